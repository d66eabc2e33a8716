/**
 * Arithmetic on the gateable figures (queries, round trips, bytes, payload bytes, rows),
 * shared by the runner, budgets and recordings. Light on purpose: the CLI loads it at start.
 */
import type { StatementRecord } from './types.js';
import type { Figures } from '../report/model.js';

/** Figures of one turn's statements. */
export function figuresOf(statements: readonly StatementRecord[]): Figures {
  return {
    queries: statements.length,
    roundTrips: new Set(statements.map((s) => s.roundTrip)).size,
    bytes: statements.reduce((a, s) => a + s.wireBytes, 0),
    payloadBytes: statements.reduce((a, s) => a + s.payloadBytes, 0),
    rows: statements.reduce((a, s) => a + s.rows, 0),
  };
}

/** Adds figures up (the totals of turns). */
export function sumFigures(items: readonly Figures[]): Figures {
  const total: Figures = { queries: 0, roundTrips: 0, bytes: 0, payloadBytes: 0, rows: 0 };
  for (const f of items) {
    total.queries += f.queries;
    total.roundTrips += f.roundTrips;
    total.bytes += f.bytes;
    total.payloadBytes += f.payloadBytes;
    total.rows += f.rows;
  }
  return total;
}

export function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

export function mean(total: number, n: number): number {
  return round(total / n, 3);
}

/** Per-turn means of totals over `n` turns (3 decimals). */
export function meanFigures(totals: Figures, n: number): Figures {
  return {
    queries: mean(totals.queries, n),
    roundTrips: mean(totals.roundTrips, n),
    bytes: mean(totals.bytes, n),
    payloadBytes: mean(totals.payloadBytes, n),
    rows: mean(totals.rows, n),
  };
}
