/**
 * Budgets on a real run: every metric trips one above its limit and passes at it, per turn,
 * per run and per section.
 */
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { checkBudget, budgetFromLimits, parseBudget, METRICS, type Metric } from '../../src/core/budget.js';
import { compare } from '../../src/commands/compare.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import { optimizedStrategy } from '../../src/core/strategies/optimized-strategy.js';
import { UsageError } from '../../src/core/errors.js';
import type { Report } from '../../src/report/model.js';
import { testCacheDir } from '../support/backends.js';

let report: Report;

beforeAll(async () => {
  report = await compare({ strategies: [naiveStrategy, optimizedStrategy], scale: 'tiny', cacheDir: testCacheDir, conversations: ['en-first-1'] });
});

describe('budgets', () => {
  it.each(METRICS)('%s per turn: passes at the worst turn, trips one below it', (metric: Metric) => {
    const optimized = report.strategies[1]!;
    const worst = Math.max(...optimized.turnDetails.map((t) => t[metric]));
    const only = { ...report, strategies: [optimized] };
    expect(checkBudget(only, budgetFromLimits({ [metric]: worst })).passed).toBe(true);
    const over = checkBudget(only, budgetFromLimits({ [metric]: worst - 1 }));
    expect(over.passed).toBe(false);
    const worstTurns = optimized.turnDetails.filter((t) => t[metric] === worst).map((t) => t.turn);
    expect(over.violations.filter((v) => v.actual === worst).map((v) => v.turn)).toEqual(worstTurns);
    expect(over.violations.every((v) => v.metric === metric && v.strategy === 'optimized' && v.budget === worst - 1 && v.section === null)).toBe(true);
  });

  it.each(METRICS)('%s per run: passes at the total, trips one below it', (metric: Metric) => {
    const naive = report.strategies[0]!;
    const only = { ...report, strategies: [naive] };
    expect(checkBudget(only, budgetFromLimits({ [metric]: naive.totals[metric] }, 'total')).passed).toBe(true);
    const over = checkBudget(only, budgetFromLimits({ [metric]: naive.totals[metric] - 1 }, 'total'));
    expect(over.violations).toHaveLength(1);
    expect(over.violations[0]).toMatchObject({ metric, turn: null, actual: naive.totals[metric] });
  });

  it('names the statements responsible, the N+1 group first for a query budget', () => {
    const naive = report.strategies[0]!;
    const over = checkBudget({ ...report, strategies: [naive] }, budgetFromLimits({ queries: 5 }));
    const last = over.violations.at(-1)!;
    expect(last.statements[0]).toMatchObject({ count: 10, sql: 'select * from "website_sources" where "id" = $1 limit $2' });
    const bytes = checkBudget({ ...report, strategies: [naive] }, budgetFromLimits({ bytes: 1000 }));
    expect(bytes.violations[0]!.statements[0]!.sql).toMatch(/^select \* from "website_pages"/);
  });

  it('checks section budgets per strategy from a budget file', () => {
    const budget = parseBudget('b.json', { strategies: { optimized: { queries: 7, sections: { websites: { queries: 2 }, faqs: { bytes: 1 } } } } });
    const result = checkBudget(report, budget);
    expect(result.checks.map((c) => [c.strategy, c.section, c.metric, c.passed])).toEqual([
      ['optimized', null, 'queries', true],
      ['optimized', 'websites', 'queries', false],
      ['optimized', 'faqs', 'bytes', false],
    ]);
    expect(result.violations.filter((v) => v.section === 'websites').length, 'nothing to check').toBeGreaterThan(0);
    expect(result.violations.filter((v) => v.section === 'websites').every((v) => v.actual === 3 && v.budget === 2)).toBe(true);
  });

  it('a section budget naming no section of the run is a usage error naming the known sections, not a pass', () => {
    const budget = parseBudget('b.json', { default: { sections: { FAQS: { rows: 1 } } }, strategies: { optimized: { queries: 99, sections: { faq: { bytes: 1 }, faqs: { bytes: 1_000_000 } } } } });
    let error: UsageError | undefined;
    try {
      checkBudget(report, budget);
    } catch (e) {
      error = e as UsageError;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect(error!.exitCode).toBe(2);
    const known = 'its sections: question, system, customer, history, products, websites, faqs';
    expect(error!.problems).toEqual([
      `b.json: default.sections.FAQS: no section "FAQS" in this run (${known})`,
      `b.json: strategies.optimized.sections.faq: no section "faq" in this run (${known})`,
    ]);
    // Without sections (a run whose strategies never call db.section), every section name is unknown.
    const bare = { ...report, strategies: report.strategies.map((s) => ({ ...s, sections: [] })) };
    expect(() => checkBudget(bare, parseBudget('b.json', { strategies: { optimized: { sections: { faqs: { rows: 1 } } } } }))).toThrow(
      'b.json: strategies.optimized.sections.faqs: no section "faqs" in this run (it has none: no strategy called db.section())',
    );
  });

  it('rejects a malformed budget file, naming every problem', () => {
    let error: UsageError | undefined;
    try {
      parseBudget('ctxbench.budget.json', { per: 'week', strategies: { optimized: { querys: 3, bytes: -1, sections: { faqs: { rows: 'x' } } } }, silence: [{ fingerprint: 'x' }] });
    } catch (e) {
      error = e as UsageError;
    }
    expect(error?.problems).toEqual([
      'ctxbench.budget.json: per: expected "turn" or "total", got "week"',
      'ctxbench.budget.json: strategies.optimized.querys: unknown field (expected queries, roundTrips, bytes, payloadBytes, rows, promptTokens or sections)',
      'ctxbench.budget.json: strategies.optimized.bytes: expected a number ≥ 0, got -1',
      'ctxbench.budget.json: strategies.optimized.sections.faqs.rows: expected a number ≥ 0, got "x"',
      'ctxbench.budget.json: silence[0].reason: a silenced finding needs a reason',
    ]);
  });
});
