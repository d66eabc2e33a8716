/**
 * Budgets on hand-built reports: the file's validation (every problem at once, each naming its
 * field), how shared and per-strategy limits merge, per turn, per run and per section checks,
 * and which statements a violation blames — exact results, no database.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budgetFor, budgetFromLimits, checkBudget, hasLimits, loadBudgetFile, parseBudget } from '../../src/core/budget.js';
import { UsageError } from '../../src/core/errors.js';
import type { StatementRecord } from '../../src/core/types.js';
import type { Report, TurnDetail } from '../../src/report/model.js';
import { statement, twoStrategyReport } from '../report/report-fixture.js';
import { figuresOf } from '../../src/core/figures.js';

function turn(label: string, statements: StatementRecord[]): TurnDetail {
  return {
    turn: label,
    conversationId: null,
    messageId: null,
    ...figuresOf(statements),
    promptBytes: 1,
    promptSha256: 'x',
    latencyMs: [1],
    contextIdentical: true,
    statements,
  };
}

const st = (seq: number, sql: string, section: string | null, rows: number, wireBytes: number, payloadBytes: number, roundTrip = seq) =>
  statement(seq, sql, [], { section, rows, wireBytes, payloadBytes, roundTrip, fingerprint: sql });

/** Strategy "s": t1 has 3 statements (two of one fingerprint), t2 has 1. */
function report(): Report {
  const base = twoStrategyReport();
  const t1 = turn('t1', [st(1, 'select a', 'faqs', 2, 100, 60), st(2, 'select b', 'faqs', 5, 300, 250), st(3, 'select a', null, 1, 50, 20, 2)]);
  const t2 = turn('t2', [st(1, 'select c', 'faqs', 4, 200, 150)]);
  // The run's sections, as the runner lists them: a budget may only name these.
  const faqs = figuresOf([...t1.statements, ...t2.statements].filter((x) => x.section === 'faqs'));
  return {
    ...base,
    strategies: [{ ...base.strategies[0]!, name: 's', turnDetails: [t1, t2], sections: [{ name: 'faqs', totals: faqs, perTurn: faqs }] }],
  };
}

function problemsOf(json: unknown): string[] {
  try {
    parseBudget('b.json', json);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message.split('\n');
  }
  return [];
}

describe('checkBudget', () => {
  it('per turn: passes at the worst turn, fails one below it, naming the turn', () => {
    const at = checkBudget(report(), budgetFromLimits({ queries: 3, roundTrips: 2, bytes: 450, payloadBytes: 330, rows: 8 }));
    expect(at.passed).toBe(true);
    expect(at.violations).toEqual([]);
    expect(at.checks.map((c) => [c.metric, c.budget, c.worst, c.passed])).toEqual([
      ['queries', 3, 3, true],
      ['roundTrips', 2, 2, true],
      ['bytes', 450, 450, true],
      ['payloadBytes', 330, 330, true],
      ['rows', 8, 8, true],
    ]);
    const over = checkBudget(report(), budgetFromLimits({ queries: 2, rows: 3 }));
    expect(over.passed).toBe(false);
    expect(over.per).toBe('turn');
    expect(over.source).toBe('flags');
    expect(over.violations.map((v) => [v.metric, v.strategy, v.section, v.turn, v.budget, v.actual])).toEqual([
      ['queries', 's', null, 't1', 2, 3],
      ['rows', 's', null, 't1', 3, 8],
      ['rows', 's', null, 't2', 3, 4],
    ]);
    expect(over.checks.map((c) => [c.metric, c.worst, c.passed])).toEqual([
      ['queries', 3, false],
      ['rows', 8, false],
    ]);
  });

  it('blames repeated fingerprints first for counts, the largest statements first for sizes', () => {
    const over = checkBudget(report(), budgetFromLimits({ queries: 0, bytes: 0, payloadBytes: 0, rows: 0 }));
    const t1 = (metric: string) => over.violations.find((v) => v.metric === metric && v.turn === 't1')!.statements;
    expect(t1('queries')).toEqual([
      { seq: 1, count: 2, sql: 'select a', section: 'faqs', rows: 3, bytes: 150 },
      { seq: 2, count: 1, sql: 'select b', section: 'faqs', rows: 5, bytes: 300 },
    ]);
    expect(t1('bytes').map((s) => s.seq)).toEqual([2, 1, 3]);
    expect(t1('payloadBytes').map((s) => s.seq)).toEqual([2, 1, 3]);
    expect(t1('rows').map((s) => [s.seq, s.count, s.rows, s.bytes])).toEqual([
      [2, 1, 5, 300],
      [1, 1, 2, 100],
      [3, 1, 1, 50],
    ]);
  });

  it('orders the blame by each metric: groups by count, then sizes by their own figure', () => {
    const base = report();
    base.strategies[0]!.turnDetails = [
      turn('t', [
        st(1, 'select x', null, 9, 10, 500),
        st(2, 'select y', null, 1, 900, 5),
        st(3, 'select y', null, 5, 20, 50),
        st(4, 'select z', null, 3, 30, 60),
      ]),
    ];
    const over = checkBudget(base, budgetFromLimits({ queries: 0, roundTrips: 0, bytes: 0, payloadBytes: 0, rows: 0 }));
    const blamed = (metric: string) => over.violations.find((v) => v.metric === metric)!.statements.map((s) => [s.seq, s.count]);
    const groups = [
      [2, 2],
      [1, 1],
      [4, 1],
    ];
    expect(blamed('queries')).toEqual(groups);
    expect(blamed('roundTrips')).toEqual(groups);
    expect(blamed('bytes')).toEqual([
      [2, 1],
      [4, 1],
      [3, 1],
      [1, 1],
    ]);
    expect(blamed('payloadBytes')).toEqual([
      [1, 1],
      [4, 1],
      [3, 1],
      [2, 1],
    ]);
    expect(blamed('rows')).toEqual([
      [1, 1],
      [3, 1],
      [4, 1],
      [2, 1],
    ]);
  });

  it('blames at most 20 statements, ties broken by sequence', () => {
    const many = Array.from({ length: 25 }, (_, i) => st(i + 1, `select ${i % 3}`, null, 1, 10, 1));
    const base = report();
    base.strategies[0]!.turnDetails = [turn('t', many)];
    const over = checkBudget(base, budgetFromLimits({ rows: 0, queries: 0 }));
    const rows = over.violations.find((v) => v.metric === 'rows')!.statements;
    expect(rows.map((s) => s.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(over.violations.find((v) => v.metric === 'queries')!.statements.map((s) => [s.seq, s.count])).toEqual([
      [1, 9],
      [2, 8],
      [3, 8],
    ]);
  });

  it('per total: the sum over turns, one violation with no turn', () => {
    const at = checkBudget(report(), budgetFromLimits({ rows: 12, queries: 4 }, 'total'));
    expect(at.passed).toBe(true);
    expect(at.checks.map((c) => [c.metric, c.worst, c.passed])).toEqual([
      ['queries', 4, true],
      ['rows', 12, true],
    ]);
    const over = checkBudget(report(), budgetFromLimits({ rows: 11 }, 'total'));
    expect(over.violations.map((v) => [v.metric, v.turn, v.budget, v.actual, v.statements.map((s) => s.seq)])).toEqual([['rows', null, 11, 12, [2, 1, 1, 3]]]);
    expect(over.checks.map((c) => [c.metric, c.worst, c.passed])).toEqual([['rows', 12, false]]);
    expect(over.per).toBe('total');
  });

  it('per section: only that section’s statements count', () => {
    const budget = parseBudget('b.json', { strategies: { s: { sections: { faqs: { rows: 6, queries: 1 } } } } });
    const r = checkBudget(report(), budget);
    expect(r.violations.map((v) => [v.metric, v.section, v.turn, v.actual])).toEqual([
      ['queries', 'faqs', 't1', 2],
      ['rows', 'faqs', 't1', 7],
    ]);
    expect(r.checks.map((c) => [c.section, c.metric, c.worst])).toEqual([
      ['faqs', 'queries', 2],
      ['faqs', 'rows', 7],
    ]);
    expect(r.source).toBe('b.json');
  });

  it('a strategy with no limits is not checked', () => {
    const budget = parseBudget('b.json', { strategies: { other: { queries: 0 } } });
    expect(checkBudget(report(), budget)).toMatchObject({ passed: true, checks: [], violations: [] });
  });
});

describe('budgetFor and hasLimits', () => {
  it('a strategy’s own limits override the default ones, section by section', () => {
    const budget = parseBudget('b.json', {
      default: { queries: 10, rows: 5, sections: { faqs: { bytes: 100, rows: 2 }, history: { rows: 1 } } },
      strategies: { s: { queries: 3, sections: { faqs: { bytes: 50 } } } },
    });
    expect(budgetFor(budget, 's')).toEqual({ limits: { queries: 3, rows: 5 }, sections: { faqs: { bytes: 50, rows: 2 }, history: { rows: 1 } } });
    expect(budgetFor(budget, 'other')).toEqual({ limits: { queries: 10, rows: 5 }, sections: { faqs: { bytes: 100, rows: 2 }, history: { rows: 1 } } });
    // The file's defaults are not changed by merging.
    expect(budget.all.sections.faqs).toEqual({ bytes: 100, rows: 2 });
  });

  it('budgetFromLimits: the flags’ limits for every strategy, nothing silenced', () => {
    expect(budgetFromLimits({ rows: 1 }, 'total')).toEqual({ per: 'total', all: { limits: { rows: 1 }, sections: {} }, strategies: {}, silence: [], source: 'flags' });
  });

  it('hasLimits: any limit or section, shared or per strategy', () => {
    expect(hasLimits(budgetFromLimits({}))).toBe(false);
    expect(hasLimits(budgetFromLimits({ rows: 0 }))).toBe(true);
    expect(hasLimits(parseBudget('b.json', { strategies: { s: { sections: { faqs: {} } } } }))).toBe(true);
    expect(hasLimits(parseBudget('b.json', { strategies: { s: { queries: 1 } } }))).toBe(true);
    expect(hasLimits(parseBudget('b.json', { default: { sections: { x: {} } } }))).toBe(true);
    expect(hasLimits(parseBudget('b.json', { silence: [{ fingerprint: 'f', reason: 'r' }] }))).toBe(false);
  });
});

describe('parseBudget', () => {
  it('reads per, default, strategies, sections and silence', () => {
    expect(
      parseBudget('b.json', {
        $schema: 'x',
        per: 'total',
        default: { rows: 0 },
        strategies: { s: { queries: 8, bytes: 20000, sections: { faqs: { bytes: 2000 } } } },
        silence: [{ fingerprint: 'select 1', reason: 'tiny' }],
      }),
    ).toEqual({
      per: 'total',
      all: { limits: { rows: 0 }, sections: {} },
      strategies: { s: { limits: { queries: 8, bytes: 20000 }, sections: { faqs: { bytes: 2000 } } } },
      silence: [{ fingerprint: 'select 1', reason: 'tiny' }],
      source: 'b.json',
    });
    expect(parseBudget('b.json', { per: 'turn', strategies: { s: { rows: 1 } } }).per).toBe('turn');
    expect(parseBudget('b.json', { strategies: { s: { rows: 1 } } }).per).toBe('turn');
  });

  it('reports every problem at once, each naming the file and the field', () => {
    expect(
      problemsOf({
        per: 'day',
        extra: 1,
        default: [],
        strategies: {
          a: { queries: -1, bytes: 'many', latency: 5, sections: { faqs: { rows: Infinity, nope: 1 }, bad: 3 } },
          b: 7,
          c: { sections: [] },
        },
        silence: [{ fingerprint: '' }, { fingerprint: 'f', reason: ' ' }, 'x', { fingerprint: 'ok', reason: 'fine' }, { fingerprint: 5, reason: 'r' }, { fingerprint: 'g', reason: 5 }],
      }),
    ).toEqual([
      'b.json: extra: unknown field (expected per, default, strategies, silence)',
      'b.json: per: expected "turn" or "total", got "day"',
      'b.json: default: expected an object of limits (queries, roundTrips, bytes, payloadBytes, rows, promptTokens) and "sections"',
      'b.json: strategies.a.queries: expected a number ≥ 0, got -1',
      'b.json: strategies.a.bytes: expected a number ≥ 0, got "many"',
      'b.json: strategies.a.latency: unknown field (expected queries, roundTrips, bytes, payloadBytes, rows, promptTokens or sections)',
      'b.json: strategies.a.sections.faqs.rows: expected a number ≥ 0, got null',
      'b.json: strategies.a.sections.faqs.nope: unknown metric (expected queries, roundTrips, bytes, payloadBytes, rows)',
      'b.json: strategies.a.sections.bad: expected an object of limits (queries, roundTrips, bytes, payloadBytes, rows)',
      'b.json: strategies.b: expected an object of limits (queries, roundTrips, bytes, payloadBytes, rows, promptTokens) and "sections"',
      'b.json: strategies.c.sections: expected an object: section name → limits',
      'b.json: silence[0].fingerprint: expected the fingerprint of the finding to silence (as shown in the report)',
      'b.json: silence[1].reason: a silenced finding needs a reason',
      'b.json: silence[2].fingerprint: expected the fingerprint of the finding to silence (as shown in the report)',
      'b.json: silence[4].fingerprint: expected the fingerprint of the finding to silence (as shown in the report)',
      'b.json: silence[5].reason: a silenced finding needs a reason',
    ]);
  });

  it('rejects a file that is not an object, strategies or silence of the wrong shape, and a file that limits nothing', () => {
    expect(problemsOf([])).toEqual(['b.json: expected a JSON object with "strategies" (and optionally "per", "default", "silence")']);
    expect(problemsOf(null)).toEqual(['b.json: expected a JSON object with "strategies" (and optionally "per", "default", "silence")']);
    expect(problemsOf({ strategies: [] })).toEqual(['b.json: strategies: expected an object: strategy name → limits']);
    expect(problemsOf({ silence: {} })).toEqual(['b.json: silence: expected an array of { "fingerprint": …, "reason": … }']);
    expect(problemsOf({})).toEqual(['b.json: no limits: add "strategies": { "<name>": { "queries": … } }']);
    expect(problemsOf({ strategies: {} })).toEqual(['b.json: no limits: add "strategies": { "<name>": { "queries": … } }']);
    expect(problemsOf({ silence: [{ fingerprint: 'f', reason: 'r' }] })).toEqual([]);
    expect(problemsOf({ strategies: { s: { rows: 0 } } })).toEqual([]);
  });
});

describe('loadBudgetFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-budget-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file, and names it when it is missing or not JSON', async () => {
    const good = path.join(dir, 'good.json');
    await writeFile(good, JSON.stringify({ strategies: { s: { rows: 1 } } }));
    expect((await loadBudgetFile(good)).strategies.s!.limits).toEqual({ rows: 1 });
    const missing = path.join(dir, 'missing.json');
    await expect(loadBudgetFile(missing)).rejects.toThrow(`--budget: cannot read ${missing}: no such file`);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{ nope');
    await expect(loadBudgetFile(bad)).rejects.toThrow(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid JSON \\(`));
    await expect(loadBudgetFile(dir)).rejects.toThrow(`--budget: cannot read ${dir}: it is a directory`);
  });
});
