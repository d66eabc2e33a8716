/**
 * Query budgets: limits on queries, round trips, bytes and rows — per turn or for the whole
 * run, per strategy and per section — checked against a report. These figures are exact for a
 * given seed and scale, so a CI job can gate on them without flakiness.
 */
import { UsageError } from './errors.js';
import { figuresOf } from './figures.js';
import { readTextFile } from './read-text.js';
import type { StatementRecord } from './types.js';
import type { Figures, Report, StrategyReport } from '../report/model.js';
import {
  BUDGET_METRICS,
  METRICS,
  type BudgetCheck,
  type BudgetMetric,
  type BudgetResult,
  type Metric,
  type ResponsibleStatement,
  type Violation,
} from './gate-results.js';

export {
  BUDGET_METRICS,
  METRIC_FLAGS,
  METRICS,
  type BudgetCheck,
  type BudgetMetric,
  type BudgetResult,
  type Metric,
  type ResponsibleStatement,
  type Violation,
} from './gate-results.js';

/** Upper limits (inclusive); absent means unlimited. */
export type Limits = Partial<Record<BudgetMetric, number>>;

/** A strategy's budget: limits on its figures and on each of its sections. */
export interface StrategyBudget {
  limits: Limits;
  sections: Record<string, Limits>;
}

/** A whole budget, from flags or from a budget file. */
export interface Budget {
  /** `turn`: every turn must fit; `total`: the sum over the run must fit. */
  per: 'turn' | 'total';
  /** Limits for every strategy checked (flags, or the file's `default`). */
  all: StrategyBudget;
  /** Limits per strategy name (from a budget file), on top of `all`. */
  strategies: Record<string, StrategyBudget>;
  /** Findings silenced by fingerprint, each with the reason someone accepted it. */
  silence: { fingerprint: string; reason: string }[];
  /** Where it came from, for messages. */
  source: string;
}

/** An empty budget from flags. */
export function budgetFromLimits(limits: Limits, per: 'turn' | 'total' = 'turn'): Budget {
  return { per, all: { limits, sections: {} }, strategies: {}, silence: [], source: 'flags' };
}

/** Whether a budget limits anything at all. */
export function hasLimits(budget: Budget): boolean {
  const any = (b: StrategyBudget) => Object.keys(b.limits).length > 0 || Object.keys(b.sections).length > 0;
  return any(budget.all) || Object.values(budget.strategies).some(any);
}

/**
 * Reads and validates a budget file; every problem is reported at once, each naming the
 * file and the field (exit 2).
 *
 * @example
 * // ctxbench.budget.json
 * // { "per": "turn",
 * //   "strategies": { "optimized": { "queries": 8, "bytes": 20000, "sections": { "faqs": { "bytes": 2000 } } } },
 * //   "silence": [{ "fingerprint": "select * from \"users\" where \"id\" = $1", "reason": "tiny table" }] }
 * const budget = await loadBudgetFile('ctxbench.budget.json');
 */
export async function loadBudgetFile(file: string): Promise<Budget> {
  const text = await readTextFile(file, '--budget');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return parseBudget(file, json);
}

/** Validates a parsed budget file (see {@link loadBudgetFile}). */
export function parseBudget(file: string, json: unknown): Budget {
  const problems: string[] = [];
  const at = (path: string, message: string) => problems.push(`${file}: ${path}: ${message}`);
  const budget: Budget = { per: 'turn', all: { limits: {}, sections: {} }, strategies: {}, silence: [], source: file };
  if (!isPlainObject(json)) {
    throw new UsageError(`${file}: expected a JSON object with "strategies" (and optionally "per", "default", "silence")`);
  }
  for (const key of Object.keys(json)) {
    if (!['$schema', 'per', 'default', 'strategies', 'silence'].includes(key))
      at(key, 'unknown field (expected per, default, strategies, silence)');
  }
  if (json.per !== undefined) {
    if (json.per === 'turn' || json.per === 'total') budget.per = json.per;
    else at('per', `expected "turn" or "total", got ${JSON.stringify(json.per)}`);
  }
  if (json.default !== undefined) budget.all = parseStrategyBudget(json.default, 'default', at);
  if (json.strategies !== undefined) {
    if (!isPlainObject(json.strategies)) at('strategies', 'expected an object: strategy name → limits');
    else {
      for (const [name, value] of Object.entries(json.strategies)) {
        budget.strategies[name] = parseStrategyBudget(value, `strategies.${name}`, at);
      }
    }
  }
  if (json.silence !== undefined) {
    if (!Array.isArray(json.silence)) at('silence', 'expected an array of { "fingerprint": …, "reason": … }');
    else {
      json.silence.forEach((entry, i) => {
        if (!isPlainObject(entry) || typeof entry.fingerprint !== 'string' || entry.fingerprint === '') {
          at(`silence[${i}].fingerprint`, 'expected the fingerprint of the finding to silence (as shown in the report)');
        } else if (typeof entry.reason !== 'string' || entry.reason.trim() === '') {
          at(`silence[${i}].reason`, 'a silenced finding needs a reason');
        } else {
          budget.silence.push({ fingerprint: entry.fingerprint, reason: entry.reason });
        }
      });
    }
  }
  if (problems.length === 0 && !hasLimits(budget) && budget.silence.length === 0)
    problems.push(`${file}: no limits: add "strategies": { "<name>": { "queries": … } }`);
  if (problems.length > 0) throw new UsageError(problems);
  return budget;
}

function parseStrategyBudget(value: unknown, path: string, at: (path: string, message: string) => void): StrategyBudget {
  const out: StrategyBudget = { limits: {}, sections: {} };
  if (!isPlainObject(value)) {
    at(path, `expected an object of limits (${BUDGET_METRICS.join(', ')}) and "sections"`);
    return out;
  }
  for (const [key, v] of Object.entries(value)) {
    if (key === 'sections') {
      if (!isPlainObject(v)) {
        at(`${path}.sections`, 'expected an object: section name → limits');
        continue;
      }
      for (const [section, limits] of Object.entries(v))
        out.sections[section] = parseLimits(limits, `${path}.sections.${section}`, at);
    } else if ((BUDGET_METRICS as readonly string[]).includes(key)) {
      const limit = parseLimit(v, `${path}.${key}`, at);
      if (limit !== undefined) out.limits[key as BudgetMetric] = limit;
    } else {
      at(`${path}.${key}`, `unknown field (expected ${BUDGET_METRICS.join(', ')} or sections)`);
    }
  }
  return out;
}

function parseLimits(value: unknown, path: string, at: (path: string, message: string) => void): Limits {
  const out: Limits = {};
  if (!isPlainObject(value)) {
    at(path, `expected an object of limits (${METRICS.join(', ')})`);
    return out;
  }
  for (const [key, v] of Object.entries(value)) {
    if (key === 'promptTokens') {
      at(`${path}.${key}`, 'prompt tokens belong to a whole turn: limit them on the strategy, not on a section');
      continue;
    }
    if (!(METRICS as readonly string[]).includes(key)) {
      at(`${path}.${key}`, `unknown metric (expected ${METRICS.join(', ')})`);
      continue;
    }
    const limit = parseLimit(v, `${path}.${key}`, at);
    if (limit !== undefined) out[key as Metric] = limit;
  }
  return out;
}

function parseLimit(value: unknown, path: string, at: (path: string, message: string) => void): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    at(path, `expected a number ≥ 0, got ${JSON.stringify(value)}`);
    return undefined;
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The budget that applies to one strategy: the shared limits, overridden by its own. */
export function budgetFor(budget: Budget, strategy: string): StrategyBudget {
  const own = budget.strategies[strategy];
  const sections: Record<string, Limits> = { ...budget.all.sections };
  for (const [name, limits] of Object.entries(own?.sections ?? {})) sections[name] = { ...sections[name], ...limits };
  return { limits: { ...budget.all.limits, ...own?.limits }, sections };
}

/**
 * Section names a budget limits that no strategy of the report produced: a typo there
 * (`faq` for `faqs`) would otherwise pass every time, since no statement is in that section.
 *
 * @example
 * unknownSections(report, budget) // ['b.json: strategies.optimized.sections.faq: no section "faq" in this run (its sections: system, history, …)']
 */
export function unknownSections(report: Report, budget: Budget): string[] {
  const known = new Set<string>();
  for (const s of report.strategies) for (const section of s.sections) if (section.name !== null) known.add(section.name);
  const list = known.size === 0 ? 'it has none: no strategy called db.section()' : `its sections: ${[...known].join(', ')}`;
  const problems: string[] = [];
  const scan = (path: string, b: StrategyBudget | undefined) => {
    for (const name of Object.keys(b?.sections ?? {})) {
      if (!known.has(name)) problems.push(`${budget.source}: ${path}.sections.${name}: no section "${name}" in this run (${list})`);
    }
  };
  scan('default', budget.all);
  for (const [name, b] of Object.entries(budget.strategies)) scan(`strategies.${name}`, b);
  return problems;
}

/**
 * Checks every strategy of a report against a budget. A section budget naming a section the
 * run did not produce is a usage error (exit 2), not a pass.
 *
 * @example
 * const result = checkBudget(report, budgetFromLimits({ queries: 10 }));
 * if (!result.passed) console.log(result.violations);
 */
export function checkBudget(report: Report, budget: Budget): BudgetResult {
  const unknown = unknownSections(report, budget);
  if (unknown.length > 0) throw new UsageError(unknown);
  const checks: BudgetCheck[] = [];
  const violations: Violation[] = [];
  for (const strategy of report.strategies) {
    const own = budgetFor(budget, strategy.name);
    check(strategy, null, own.limits, budget.per, checks, violations);
    for (const [section, limits] of Object.entries(own.sections))
      check(strategy, section, limits, budget.per, checks, violations);
  }
  const found = new Set(report.strategies.flatMap((s) => s.findings.map((f) => f.fingerprint)));
  const staleSilences = budget.silence.filter((s) => !found.has(s.fingerprint)).map((s) => ({ fingerprint: s.fingerprint, reason: s.reason }));
  return { passed: violations.length === 0, per: budget.per, source: budget.source, checks, violations, staleSilences };
}

function check(
  strategy: StrategyReport,
  section: string | null,
  limits: Limits,
  per: 'turn' | 'total',
  checks: BudgetCheck[],
  violations: Violation[],
): void {
  for (const metric of BUDGET_METRICS) {
    const limit = limits[metric];
    if (limit === undefined) continue;
    const turns = strategy.turnDetails.map((t) => {
      const statements = section === null ? t.statements : t.statements.filter((s) => s.section === section);
      const figures: Record<BudgetMetric, number> = {
        ...(section === null ? (t as Figures) : figuresOf(statements)),
        // A report made without a tokenizer has no token figures: such a budget is refused before the run.
        promptTokens: t.promptTokens ?? 0,
      };
      return { turn: t.turn, statements, figures };
    });
    if (per === 'total') {
      const actual = turns.reduce((a, t) => a + t.figures[metric], 0);
      checks.push({ strategy: strategy.name, section, metric, budget: limit, worst: actual, passed: actual <= limit });
      if (actual > limit) {
        violations.push({
          metric,
          strategy: strategy.name,
          section,
          turn: null,
          budget: limit,
          actual,
          statements: responsible(
            metric,
            turns.flatMap((t) => t.statements),
          ),
        });
      }
      continue;
    }
    let worst = 0;
    for (const t of turns) {
      const actual = t.figures[metric];
      worst = Math.max(worst, actual);
      if (actual > limit) {
        violations.push({
          metric,
          strategy: strategy.name,
          section,
          turn: t.turn,
          budget: limit,
          actual,
          statements: responsible(metric, t.statements),
        });
      }
    }
    checks.push({ strategy: strategy.name, section, metric, budget: limit, worst, passed: worst <= limit });
  }
}

const RESPONSIBLE_LIMIT = 20;

/** The statements behind a figure: repeated fingerprints first for counts, the largest first for sizes. */
function responsible(metric: BudgetMetric, statements: readonly StatementRecord[]): ResponsibleStatement[] {
  if (metric === 'queries' || metric === 'roundTrips') {
    const groups = new Map<string, ResponsibleStatement>();
    for (const s of statements) {
      const g = groups.get(s.fingerprint);
      if (g === undefined)
        groups.set(s.fingerprint, { seq: s.seq, count: 1, sql: s.sql, section: s.section, rows: s.rows, bytes: s.wireBytes });
      else {
        g.count += 1;
        g.rows += s.rows;
        g.bytes += s.wireBytes;
      }
    }
    return [...groups.values()].sort((a, b) => b.count - a.count || a.seq - b.seq).slice(0, RESPONSIBLE_LIMIT);
  }
  // Tokens come from the prompt, not from any one statement.
  if (metric === 'promptTokens') return [];
  const key = (s: StatementRecord): number =>
    metric === 'bytes' ? s.wireBytes : metric === 'payloadBytes' ? s.payloadBytes : s.rows;
  return [...statements]
    .sort((a, b) => key(b) - key(a) || a.seq - b.seq)
    .slice(0, RESPONSIBLE_LIMIT)
    .map((s) => ({ seq: s.seq, count: 1, sql: s.sql, section: s.section, rows: s.rows, bytes: s.wireBytes }));
}
