/**
 * The arithmetic users read in every report: figures of a turn, their sums and means, and
 * the latency percentiles — checked against samples whose answers are known exactly.
 */
import { describe, expect, it } from 'vitest';
import { figuresOf, mean, meanFigures, round, sumFigures } from '../../src/core/figures.js';
import { percentiles } from '../../src/core/runner.js';
import { statement } from '../report/report-fixture.js';

describe('percentiles (nearest rank)', () => {
  it('reads p50, p95 and max from 1..100 exactly, whatever the input order', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(values)).toEqual({ p50: 50, p95: 95, max: 100 });
  });

  it('takes the ceiling rank: 20 samples put p95 at the 19th and p50 at the 10th', () => {
    const values = Array.from({ length: 20 }, (_, i) => (i + 1) * 10);
    expect(percentiles(values)).toEqual({ p50: 100, p95: 190, max: 200 });
  });

  it('with 3 samples: p50 is the middle one, p95 the largest', () => {
    expect(percentiles([7, 1, 3])).toEqual({ p50: 3, p95: 7, max: 7 });
  });

  it('one sample is every percentile; none gives zeros', () => {
    expect(percentiles([4.2])).toEqual({ p50: 4.2, p95: 4.2, max: 4.2 });
    expect(percentiles([])).toEqual({ p50: 0, p95: 0, max: 0 });
  });

  it('sorts numerically, not as text, and rounds to microseconds', () => {
    expect(percentiles([10, 9, 100, 2])).toEqual({ p50: 9, p95: 100, max: 100 });
    expect(percentiles([1.23456, 2.00049, 0.5])).toEqual({ p50: 1.235, p95: 2, max: 2 });
  });

  it('does not reorder the caller’s array', () => {
    const values = [3, 1, 2];
    percentiles(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('figures', () => {
  it('counts queries, distinct round trips and sums bytes, payload and rows', () => {
    const statements = [
      statement(1, 'select 1', [], { roundTrip: 1, wireBytes: 10, payloadBytes: 3, rows: 1 }),
      statement(2, 'select 2', [], { roundTrip: 1, wireBytes: 20, payloadBytes: 5, rows: 2 }),
      statement(3, 'select 3', [], { roundTrip: 2, wireBytes: 40, payloadBytes: 7, rows: 0 }),
    ];
    expect(figuresOf(statements)).toEqual({ queries: 3, roundTrips: 2, bytes: 70, payloadBytes: 15, rows: 3 });
    expect(figuresOf([])).toEqual({ queries: 0, roundTrips: 0, bytes: 0, payloadBytes: 0, rows: 0 });
  });

  it('sums figures field by field', () => {
    const a = { queries: 1, roundTrips: 2, bytes: 3, payloadBytes: 4, rows: 5 };
    const b = { queries: 10, roundTrips: 20, bytes: 30, payloadBytes: 40, rows: 50 };
    expect(sumFigures([a, b])).toEqual({ queries: 11, roundTrips: 22, bytes: 33, payloadBytes: 44, rows: 55 });
    expect(sumFigures([])).toEqual({ queries: 0, roundTrips: 0, bytes: 0, payloadBytes: 0, rows: 0 });
  });

  it('means per turn, to three decimals, field by field', () => {
    const totals = { queries: 10, roundTrips: 7, bytes: 1000, payloadBytes: 2, rows: 1 };
    expect(meanFigures(totals, 3)).toEqual({ queries: 3.333, roundTrips: 2.333, bytes: 333.333, payloadBytes: 0.667, rows: 0.333 });
    expect(mean(5, 2)).toBe(2.5);
  });

  it('rounds half away from zero at the given decimals', () => {
    expect(round(1.0005, 3)).toBe(1.001);
    expect(round(2.5, 0)).toBe(3);
    expect(round(1234.5678, 2)).toBe(1234.57);
  });
});
