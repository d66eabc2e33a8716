/**
 * The measuring loop: every turn, every strategy, side by side on one instrumented connection.
 * Knows nothing of where the database came from or how the result will be printed.
 */
import { figuresOf, mean, meanFigures, round, sumFigures } from './figures.js';
import { diffPrompts } from './analysis/prompt-diff.js';
import { columnUsage, type CapturedStatement, type ColumnUse } from './analysis/column-usage.js';
import { findFindings } from './analysis/findings.js';
import { initFingerprinting } from './analysis/fingerprint.js';
import { copyCallSites } from './call-site.js';
import { CtxbenchError, DatabaseError, StrategyError, maskSecrets } from './errors.js';
import { promptBytes, promptSha256, renderPrompt } from './render/prompt-renderer.js';
import { statementValues, withValueCapture } from './recorder.js';
import type { ProfilingSession } from './session.js';
import { catchStrayErrors } from './stray-errors.js';
import { TurnStopped } from './turn-guard.js';
import type { StatementRecord, Strategy, Turn } from './types.js';
import type { Figures, LatencySummary, SectionFigures, StrategyReport, TotalFigures, TurnDetail } from '../report/model.js';

/** Progress of a run, for a progress line on stderr. */
export interface RunProgress {
  strategy: string;
  turn: number;
  turns: number;
}

/** Options of {@link runStrategies}. */
export interface RunOptions {
  /** Measured builds per turn after one warm-up build (default 1). */
  repeat?: number;
  /** Name of the strategy the others are compared with (default: the first). */
  baseline?: string;
  onProgress?: (progress: RunProgress) => void;
  /**
   * Aborting stops the build in flight (its statement cancelled, its transaction rolled back);
   * the turns every strategy completed are reported.
   */
  signal?: AbortSignal;
  /**
   * Time limit of one build of one turn, milliseconds (default {@link DEFAULT_TURN_TIMEOUT_MS};
   * 0: none). A build over it fails its strategy ("timed out after 60 s").
   */
  turnTimeoutMs?: number;
  /**
   * Never put prompt text in the report: a differing prompt is described by sizes and
   * positions only (production data; `--show-content` turns this off).
   */
  redactContent?: boolean;
  /** Counts each prompt's tokens (see `loadTokenizer`); without it, reports carry no token figures. */
  countTokens?: (prompt: string) => number;
}

/** The default time limit of one build of one turn: 60 s. */
export const DEFAULT_TURN_TIMEOUT_MS = 60_000;

/** A turn to build, with how reports name it. */
export interface TurnInput {
  /** Handed to `build` unchanged. */
  turn: unknown;
  label: string;
  conversationId: string | null;
  messageId: string | null;
}

/** Reference-schema turns, named `conversation/message`. */
export function referenceTurnInputs(turns: readonly Turn[]): TurnInput[] {
  return turns.map((turn) => ({
    turn,
    label: `${turn.conversationId}/${turn.messageId}`,
    conversationId: turn.conversationId,
    messageId: turn.messageId,
  }));
}

/** A turn's prompt, as built by one strategy. */
interface Built {
  prompt: string;
  detail: TurnDetail;
  /** How the prompt used the columns the statements fetched (kept out of the report itself). */
  columns: ColumnUse[];
}

/**
 * Builds every turn with every strategy and measures it.
 *
 * @example
 * const reports = await runStrategies(session, turns, [naiveStrategy, optimizedStrategy], { repeat: 3 });
 */
export async function runStrategies(
  session: ProfilingSession,
  turns: readonly Turn[] | readonly TurnInput[],
  strategies: readonly Strategy<any>[],
  options: RunOptions = {},
): Promise<StrategyReport[]> {
  const inputs =
    turns.length > 0 && 'label' in (turns[0] as object)
      ? (turns as readonly TurnInput[])
      : referenceTurnInputs(turns as readonly Turn[]);
  const repeat = Math.max(1, Math.floor(options.repeat ?? 1));
  const baselineName = options.baseline ?? strategies[0]?.name;
  const baselineIndex = strategies.findIndex((s) => s.name === baselineName);
  if (baselineIndex < 0) throw new StrategyError(`baseline strategy "${baselineName}" is not among the strategies`);
  // Recordings are fingerprinted by the SQL parser, which loads asynchronously.
  await initFingerprinting();

  const built: Built[][] = strategies.map(() => []);
  turns: for (const [t, turn] of inputs.entries()) {
    // Side by side: all strategies on this turn before the next, so drift hits them alike.
    const row: Built[] = [];
    for (const strategy of strategies) {
      if (options.signal?.aborted) break turns;
      options.onProgress?.({ strategy: strategy.name, turn: t + 1, turns: inputs.length });
      const b = await buildTurn(session, strategy, turn, repeat, options);
      if (b === null) break turns;
      row.push(b);
    }
    // Only whole turns are reported: an interrupted turn would compare unlike with unlike.
    if (options.signal?.aborted && row.length < strategies.length) break;
    row.forEach((b, s) => built[s]!.push(b));
  }

  const baseline = built[baselineIndex]!;
  return strategies.map((strategy, s) => {
    const mine = built[s]!;
    let difference: StrategyReport['difference'] = null;
    for (const [t, b] of mine.entries()) {
      const reference = baseline[t]!;
      b.detail.contextIdentical = b.prompt === reference.prompt;
      if (!b.detail.contextIdentical && difference === null) {
        difference = {
          turn: b.detail.turn,
          conversationId: b.detail.conversationId,
          messageId: b.detail.messageId,
          diff: options.redactContent ? describeDifference(reference.prompt, b.prompt) : diffPrompts(reference.prompt, b.prompt),
        };
      }
    }
    const details = mine.map((b) => b.detail);
    const totals: TotalFigures = sumFigures(details);
    const n = details.length || 1;
    const tokens = options.countTokens === undefined ? undefined : details.reduce((a, d) => a + (d.promptTokens ?? 0), 0);
    if (tokens !== undefined) totals.promptTokens = tokens;
    return {
      name: strategy.name,
      source: strategy.source ?? null,
      turns: details.length,
      perTurn: {
        ...meanFigures(totals, n),
        promptBytes: mean(
          details.reduce((a, d) => a + d.promptBytes, 0),
          n,
        ),
        ...(tokens === undefined ? {} : { promptTokens: mean(tokens, n) }),
        latencyMs: percentiles(details.flatMap((d) => d.latencyMs)),
      },
      totals,
      contextIdentical: difference === null,
      difference,
      findings: findFindings(details.map((d, t) => ({ statements: d.statements, columns: mine[t]!.columns }))),
      sections: sectionFigures(details),
      turnDetails: details,
    };
  });
}

async function buildTurn(
  session: ProfilingSession,
  strategy: Strategy<any>,
  input: TurnInput,
  repeat: number,
  options: RunOptions,
): Promise<Built | null> {
  const signal = options.signal;
  const limits = { signal, timeoutMs: options.turnTimeoutMs ?? DEFAULT_TURN_TIMEOUT_MS };
  let first: { prompt: string; statements: StatementRecord[] } | null = null;
  let columns: ColumnUse[] = [];
  let warmUp: StatementRecord[] = [];
  const latencies: number[] = [];
  // Run 0 is the warm-up: caches and plans settle; its figures are not kept.
  for (let run = 0; run <= repeat; run++) {
    // Interrupted after the first measured build: what was measured stands.
    if (signal?.aborted && first !== null) break;
    // Call sites too are captured on the warm-up only, and given to the measured builds' statements.
    const measure = () => session.measure((db) => strategy.build(db, input.turn), { ...limits, callSites: run === 0 });
    // Values are captured on the untimed warm-up, so holding result sets never weighs on a measured latency.
    const { value: m, stray } = await catchStrayErrors(() => (run === 0 ? withValueCapture(measure) : measure()));
    // Interrupted mid-build: without a measured build the turn is incomplete; report none of it.
    if (m.error instanceof TurnStopped && m.error.reason === 'interrupted') {
      if (first === null) return null;
      break;
    }
    if (m.error !== undefined) throw strategyFailure(strategy, input, m.error, m.statements);
    if (stray !== null) {
      const message = stray.error instanceof Error ? stray.error.message : String(stray.error);
      throw new StrategyError(`${strategyName(strategy)} failed on turn ${input.label}: ${message} (${stray.how})`, { cause: stray.error });
    }
    const prompt = toPrompt(strategy, input, m.value);
    if (run === 0) {
      columns = columnUsage(capturedStatements(m.statements), prompt);
      warmUp = m.statements;
      continue;
    }
    copyCallSites(warmUp, m.statements);
    latencies.push(round(m.latencyMs, 3));
    first ??= { prompt, statements: m.statements };
  }
  const { prompt, statements } = first!;
  return {
    prompt,
    columns,
    detail: {
      turn: input.label,
      conversationId: input.conversationId,
      messageId: input.messageId,
      ...sumFigures([figuresOf(statements)]),
      promptBytes: promptBytes(prompt),
      ...(options.countTokens === undefined ? {} : { promptTokens: options.countTokens(prompt) }),
      promptSha256: promptSha256(prompt),
      latencyMs: latencies,
      contextIdentical: true,
      statements,
    },
  };
}

/** The statements whose values were captured, with those values. */
function capturedStatements(statements: readonly StatementRecord[]): CapturedStatement[] {
  const out: CapturedStatement[] = [];
  for (const s of statements) {
    const values = statementValues(s);
    if (values !== undefined) out.push({ sql: s.sql, values });
  }
  return out;
}

const CONTEXT_KEYS = ['system', 'customer', 'history', 'products', 'websites', 'pages', 'faqs', 'question'];

/** Whether a strategy returned the reference PromptContext (rendered) rather than its own object. */
export function isPromptContext(value: object): boolean {
  return CONTEXT_KEYS.every((k) => k in value);
}

/**
 * JSON with object keys sorted at every depth, indented so a diff is line by line. A value JSON
 * cannot hold faithfully (a circular reference, a BigInt) throws a TypeError naming where it is.
 *
 * @example
 * canonicalJson({ b: 1, a: [2] }) // '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
 */
export function canonicalJson(value: unknown): string {
  const ancestors: object[] = [];
  const sort = (v: unknown, at: string): unknown => {
    if (typeof v === 'bigint') throw new TypeError(`a BigInt at ${at} (JSON has no BigInt: return it as a string or number)`);
    if (v === null || typeof v !== 'object' || v instanceof Date) return v;
    if (ancestors.includes(v)) throw new TypeError(`a circular reference at ${at}`);
    ancestors.push(v);
    try {
      if (Array.isArray(v)) return v.map((x, i) => sort(x, `${at}[${i}]`));
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sort((v as Record<string, unknown>)[k], /^[A-Za-z_$][\w$]*$/.test(k) ? `${at}.${k}` : `${at}[${JSON.stringify(k)}]`)]),
      );
    } finally {
      ancestors.pop();
    }
  };
  return `${JSON.stringify(sort(value, '$'), null, 2)}\n`;
}

/** The text two strategies are compared on: the prompt string, the rendered context, or canonical JSON. */
function toPrompt(strategy: Strategy<any>, input: TurnInput, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    if (isPromptContext(value)) return renderPrompt(value as Parameters<typeof renderPrompt>[0]);
    try {
      return canonicalJson(value);
    } catch (error) {
      throw new StrategyError(`${strategyName(strategy)} returned a value that cannot be compared as JSON for turn ${input.label}: ${(error as Error).message}`);
    }
  }
  throw new StrategyError(
    `${strategyName(strategy)} returned ${value === undefined ? 'nothing' : typeof value} for turn ${input.label}: expected a context object or a prompt string`,
  );
}

function strategyName(strategy: Strategy<any>): string {
  return strategy.source ? `strategy "${strategy.name}" (${strategy.source})` : `strategy "${strategy.name}"`;
}

/** Errors that mean the connection itself is gone, not that the strategy did something wrong. */
function isConnectionLoss(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (['ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08006', '08003', '08000'].includes(e?.code ?? ''))
    return true;
  return /Connection terminated|connection.*(closed|ended)|Client has encountered a connection error/i.test(e?.message ?? '');
}

function strategyFailure(
  strategy: Strategy<any>,
  input: TurnInput,
  error: unknown,
  statements: StatementRecord[],
): CtxbenchError {
  const failed = statements.find((s) => s.error !== null) ?? statements.at(-1);
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof TurnStopped) {
    const detail = error.detail === null ? '' : `: ${error.detail}`;
    return new StrategyError(`${strategyName(strategy)} ${message} on turn ${input.label}${detail}`, { cause: error });
  }
  if (isConnectionLoss(error)) {
    return new DatabaseError(
      `lost the connection to the database during turn ${input.label} (${strategyName(strategy)}): ${maskSecrets(message)}`,
      { cause: error },
    );
  }
  if ((error as { code?: string })?.code === '42501') {
    // The database refused this role, whatever the strategy: exit 3, as the schema check does.
    return new DatabaseError(`${strategyName(strategy)} on turn ${input.label}: ${message} (SQLSTATE 42501)`, { cause: error });
  }
  if ((error as { code?: string })?.code === '25006') {
    return new StrategyError(
      `${strategyName(strategy)} tried to write on turn ${input.label} and the server refused it: profiling runs in a READ ONLY transaction (${message})`,
      { cause: error },
    );
  }
  const sql = failed ? ` (SQL: ${failed.sql.replace(/\s+/g, ' ').slice(0, 300)})` : '';
  return new StrategyError(`${strategyName(strategy)} failed on turn ${input.label}: ${message}${sql}`, { cause: error });
}

/** Figures per section over all turns, in order of first appearance. */
function sectionFigures(details: readonly TurnDetail[]): SectionFigures[] {
  const order: (string | null)[] = [];
  const bySection = new Map<string | null, StatementRecord[]>();
  for (const d of details) {
    for (const s of d.statements) {
      if (!bySection.has(s.section)) {
        bySection.set(s.section, []);
        order.push(s.section);
      }
      bySection.get(s.section)!.push(s);
    }
  }
  const n = details.length || 1;
  return order.map((name) => {
    const statements = bySection.get(name)!;
    // Round trips of a section: distinct (turn, round trip) pairs it used.
    const totals = figuresOf(statements);
    totals.roundTrips = new Set(
      details.flatMap((d, i) => d.statements.filter((s) => s.section === name).map((s) => `${i}:${s.roundTrip}`)),
    ).size;
    return {
      name,
      totals,
      perTurn: meanFigures(totals, n),
    };
  });
}

/**
 * Where two prompts differ, without their text: sizes, the first differing byte and line,
 * the section it is in, and how many lines differ.
 *
 * @example
 * describeDifference('## A\nx\n', '## A\ny\n') // 'prompts differ (content redacted): … first at byte 5, line 2, section A …'
 */
export function describeDifference(baseline: string, other: string): string {
  const a = Buffer.from(baseline, 'utf8');
  const b = Buffer.from(other, 'utf8');
  let at = 0;
  while (at < a.length && at < b.length && a[at] === b[at]) at++;
  const before = a.subarray(0, at).toString('utf8');
  const line = before.split('\n').length;
  const section = [...before.matchAll(/^## (.+)$/gm)].at(-1)?.[1] ?? null;
  const la = baseline.split('\n');
  const lb = other.split('\n');
  let differing = 0;
  for (let i = 0; i < Math.max(la.length, lb.length); i++) if (la[i] !== lb[i]) differing++;
  return (
    `prompts differ (content redacted; --show-content to see it): baseline ${a.length} bytes in ${la.length} lines, ` +
    `this one ${b.length} bytes in ${lb.length} lines; first difference at byte ${at}, line ${line}` +
    `${section ? `, section ${section}` : ''}; ${differing} line${differing === 1 ? '' : 's'} differ`
  );
}

/** Nearest-rank percentiles. */
export function percentiles(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { p50: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
  return { p50: round(rank(0.5), 3), p95: round(rank(0.95), 3), max: round(sorted.at(-1)!, 3) };
}

export { figuresOf, meanFigures, sumFigures } from './figures.js';
