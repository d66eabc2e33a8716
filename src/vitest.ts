/**
 * `ctxbench/vitest`: a query-budget matcher for Vitest. Importing this module registers
 * `toStayWithinQueryBudget` with `expect.extend` and adds its type to Vitest's `Assertion`.
 *
 * @example
 * import { expect, it } from 'vitest';
 * import { queryBudget } from 'ctxbench/vitest';
 *
 * queryBudget.use(pool);
 * it('builds a context in 5 queries', async () => {
 *   await expect(() => buildContext(pool, turn)).toStayWithinQueryBudget({ queries: 5, bytes: 20_000 });
 * });
 */
import { expect } from 'vitest';
import { findFindings } from './core/analysis/findings.js';
import { profileSettled, type ProfileTarget } from './core/profile.js';
import { figuresOf } from './core/runner.js';
import type { StatementRecord } from './core/types.js';
import type { Figures } from './report/model.js';

/**
 * Upper bounds (inclusive) on what the measured function may send and fetch. Give at least one.
 *
 * @example
 * const budget: QueryBudget = { queries: 5, roundTrips: 2, bytes: 20_000 };
 */
export interface QueryBudget {
  /** Statements sent. */
  queries?: number;
  /** Waits for the server (pipelined or concurrent statements count once). */
  roundTrips?: number;
  /** Wire bytes received. */
  bytes?: number;
  /** Bytes of the non-NULL field values of the rows received. */
  payloadBytes?: number;
  /** Rows received. */
  rows?: number;
}

/**
 * The matcher's argument: the budget, and optionally the client to measure instead of the
 * default set with {@link queryBudget}.use.
 *
 * @example
 * await expect(() => build(db)).toStayWithinQueryBudget({ queries: 5, client: pool });
 */
export interface QueryBudgetOptions extends QueryBudget {
  client?: ProfileTarget;
}

/**
 * The default client(s) the matcher measures when a call does not name one.
 *
 * @example
 * beforeAll(() => queryBudget.use(pool)); // use() returns the undo, which Vitest runs as teardown
 */
export interface QueryBudgetDefaults {
  /**
   * Makes `client` the default for every later `toStayWithinQueryBudget` call. Returns a
   * function that puts the previous default back.
   */
  use(client: ProfileTarget): () => void;
  /** Forgets the default client. */
  reset(): void;
}

declare module 'vitest' {
  // The type parameters must match Vitest's own declaration for the interfaces to merge.
  interface Assertion<T = any> {
    /**
     * Runs the received function under `profile` and passes when every given budget holds
     * (≤). Asynchronous: always `await` it. The received value must be a function returning
     * a promise, not the promise itself, so that the matcher sees every statement it sends.
     *
     * @example
     * await expect(() => buildContext(db)).toStayWithinQueryBudget({ queries: 5, roundTrips: 2 });
     */
    toStayWithinQueryBudget(budget: QueryBudgetOptions): Promise<void>;
  }
  // Not on AsymmetricMatchersContaining: an asymmetric matcher must answer synchronously, and
  // this one has to run the function first.
}

const BUDGET_KEYS = ['queries', 'roundTrips', 'bytes', 'payloadBytes', 'rows'] as const;
type BudgetKey = (typeof BUDGET_KEYS)[number];

/** Most statement lines a message shows; a 500-query N+1 must not bury the budget lines. */
const MAX_LINES = 30;
const MAX_SQL_CHARS = 120;

let defaultClient: ProfileTarget | null = null;

/**
 * Where the matcher finds the database to measure when a call passes no `client`.
 *
 * @example
 * queryBudget.use(pool);
 * await expect(() => buildContext(pool)).toStayWithinQueryBudget({ queries: 5 });
 */
export const queryBudget: QueryBudgetDefaults = {
  use(client) {
    const previous = defaultClient;
    defaultClient = client;
    return () => {
      defaultClient = previous;
    };
  },
  reset() {
    defaultClient = null;
  },
};

/** Thrown past `.not`: a misuse is never a pass, whichever way the assertion points. */
class QueryBudgetUsageError extends TypeError {
  override name = 'QueryBudgetUsageError';
}

/** Checks the whole argument in one pass and names every problem. */
function parseOptions(options: unknown): { budget: Partial<Record<BudgetKey, number>>; client: ProfileTarget } {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new QueryBudgetUsageError(
      `toStayWithinQueryBudget: expected a budget object such as { queries: 5 }, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`,
    );
  }
  const problems: string[] = [];
  const budget: Partial<Record<BudgetKey, number>> = {};
  for (const [key, value] of Object.entries(options)) {
    if (key === 'client') continue;
    if (!(BUDGET_KEYS as readonly string[]).includes(key)) {
      problems.push(`unknown budget "${key}" (budgets: ${BUDGET_KEYS.join(', ')})`);
    } else if (value === undefined) {
      continue;
    } else if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      problems.push(`budget "${key}" must be a finite number ≥ 0, got ${JSON.stringify(value) ?? String(value)}`);
    } else {
      budget[key as BudgetKey] = value;
    }
  }
  if (problems.length === 0 && Object.keys(budget).length === 0) {
    problems.push(`give at least one budget (${BUDGET_KEYS.join(', ')})`);
  }
  const client = (options as QueryBudgetOptions).client ?? defaultClient;
  if (client === null || client === undefined) {
    problems.push('no client to measure: call queryBudget.use(poolOrClientOrKnex) or pass { client }');
  }
  if (problems.length > 0) throw new QueryBudgetUsageError(`toStayWithinQueryBudget: ${problems.join('; ')}`);
  return { budget, client: client! };
}

/** Thrown from inside the profiled call so the matcher can tell it from the function's own errors. */
class NotAPromise {
  constructor(readonly got: string) {}
}

async function toStayWithinQueryBudget(
  received: unknown,
  options: QueryBudgetOptions,
): Promise<{ pass: boolean; message: () => string }> {
  if (typeof received !== 'function') {
    const isPromise = typeof (received as { then?: unknown } | null)?.then === 'function';
    throw new QueryBudgetUsageError(
      isPromise
        ? 'toStayWithinQueryBudget: received a promise, which has already started its queries: pass a function that returns it, e.g. expect(() => buildContext(db))'
        : `toStayWithinQueryBudget: the received value must be a function returning a promise, e.g. expect(() => buildContext(db)); got ${describe(received)}`,
    );
  }
  const { budget, client } = parseOptions(options);
  const settled = await profileSettled(async () => {
    const returned: unknown = (received as () => unknown)();
    if (typeof (returned as { then?: unknown } | null)?.then !== 'function') throw new NotAPromise(describe(returned));
    return await returned;
  }, client);

  if (settled.threw) {
    if (settled.error instanceof NotAPromise) {
      throw new QueryBudgetUsageError(
        `toStayWithinQueryBudget: the received function must return a promise, but it returned ${settled.error.got}`,
      );
    }
    const reason = settled.error instanceof Error ? settled.error.message : String(settled.error);
    const error = new Error(
      `toStayWithinQueryBudget: the function threw, so its budget could not be checked: ${reason}\n\n${describeStatements(settled.statements, 'statements sent before it threw')}`,
      { cause: settled.error },
    );
    throw error;
  }

  const figures = figuresOf(settled.statements);
  const checks = (Object.entries(budget) as [BudgetKey, number][]).map(([key, limit]) => ({
    key,
    limit,
    actual: figures[key],
    within: figures[key] <= limit,
  }));
  const pass = checks.every((c) => c.within);
  return {
    pass,
    message: () => {
      const exceeded = checks.filter((c) => !c.within);
      const held = checks.filter((c) => c.within);
      const lines = pass
        ? [
            'expected the function to exceed its query budget, but it stayed within it:',
            ...held.map((c) => `  ${c.key}: ${num(c.actual)} ≤ budget ${num(c.limit)}`),
          ]
        : [
            'expected the function to stay within its query budget:',
            ...exceeded.map((c) => `  ${c.key}: ${num(c.actual)} > budget ${num(c.limit)}`),
            ...(held.length > 0
              ? [`  (within: ${held.map((c) => `${c.key} ${num(c.actual)} ≤ ${num(c.limit)}`).join(', ')})`]
              : []),
          ];
      return `${lines.join('\n')}\n\n${describeStatements(settled.statements, 'statements')}`;
    },
  };
}

/**
 * The statements, N+1 groups first (they are usually why a budget broke), then the others in
 * the order they were sent; capped so the budget lines stay on screen.
 */
function describeStatements(statements: readonly StatementRecord[], title: string): string {
  if (statements.length === 0) return `${title}: none`;
  const f: Figures = figuresOf(statements);
  const header =
    `${title} (${num(f.queries)} ${plural(f.queries, 'query', 'queries')}, ${num(f.roundTrips)} ${plural(f.roundTrips, 'round trip', 'round trips')}, ` +
    `${num(f.bytes)} bytes, ${num(f.payloadBytes)} payload bytes, ${num(f.rows)} ${plural(f.rows, 'row', 'rows')}):`;

  const groups = findFindings([{ statements: [...statements] }]).filter((x) => x.kind === 'n-plus-one');
  const grouped = new Set(groups.map((g) => g.fingerprint));
  const lines: string[] = [];
  for (const g of groups) {
    const members = statements.filter((s) => s.fingerprint === g.fingerprint);
    // The SQL as sent reads better than the fingerprint's `?`, when the loop sent one text.
    const sql = members.every((s) => s.sql === members[0]!.sql) ? members[0]!.sql : g.fingerprint;
    const rows = members.reduce((a, s) => a + s.rows, 0);
    lines.push(
      `  ${members.length}× ${oneLine(sql)} (N+1: ${num(g.bytes)} bytes, ${num(rows)} ${plural(rows, 'row', 'rows')})${at(g.callSites ?? [])}`,
    );
  }
  for (const s of statements) {
    if (grouped.has(s.fingerprint)) continue;
    const error = s.error === null ? '' : `, error: ${oneLine(s.error)}`;
    lines.push(
      `  #${s.seq} ${oneLine(s.sql)} (${num(s.wireBytes)} bytes, ${num(s.rows)} ${plural(s.rows, 'row', 'rows')}${error})${at(typeof s.callSite === 'string' ? [s.callSite] : [])}`,
    );
  }
  const shown = lines.slice(0, MAX_LINES);
  if (lines.length > MAX_LINES) shown.push(`  … ${num(lines.length - MAX_LINES)} more`);
  return `${header}\n${shown.join('\n')}`;
}

/** ` at src/x.ts:12, …` naming where the user's code sent the statements, or '' when unknown. */
function at(callSites: readonly string[]): string {
  return callSites.length === 0 ? '' : ` at ${callSites.join(', ')}`;
}

/** Single-lined and cut at a code point boundary, so a Persian literal never splits. */
function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  const chars = Array.from(flat);
  return chars.length <= MAX_SQL_CHARS ? flat : `${chars.slice(0, MAX_SQL_CHARS - 1).join('')}…`;
}

const numberFormat = new Intl.NumberFormat('en-US');

function num(n: number): string {
  return numberFormat.format(n);
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return `${typeof value} ${JSON.stringify(value) ?? String(value)}`.slice(0, 80);
}

expect.extend({ toStayWithinQueryBudget });
