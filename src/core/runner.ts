/**
 * The measuring loop: every turn, every strategy, side by side on one instrumented connection.
 * Knows nothing of where the database came from or how the result will be printed.
 */
import { figuresOf, mean, meanFigures, round, sumFigures } from './figures.js';
import { diffPrompts } from './analysis/prompt-diff.js';
import { columnUsage, type CapturedStatement, type ColumnUse } from './analysis/column-usage.js';
import { FindingsAccumulator } from './analysis/findings.js';
import { attachFixes, sessionCatalog, whatIfAfterTurn, type TurnFix } from './analysis/what-if.js';
import { initFingerprinting } from './analysis/fingerprint.js';
import { copyCallSites } from './call-site.js';
import { CtxbenchError, DatabaseError, StrategyError, maskSecrets } from './errors.js';
import { promptBytes, promptSha256, renderPrompt } from './render/prompt-renderer.js';
import { statementValues, withValueCapture } from './recorder.js';
import type { ProfilingSession } from './session.js';
import { catchStrayErrors } from './stray-errors.js';
import { TurnStopped } from './turn-guard.js';
import type { StatementRecord, Strategy, Turn } from './types.js';
import type { Figures, Finding, SectionFigures, LatencySummary, StrategyReport, TotalFigures, TurnDetail } from '../report/model.js';

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
  /**
   * What-if: measure the fix of each N+1 group and `SELECT *` with unused columns (see
   * `whatIfAfterTurn`), after each turn's warm-up build, inside its transaction; findings gain
   * `fix`. It sends extra statements, never counted in the figures (default off).
   */
  whatIf?: boolean;
  /**
   * Where each turn's detail goes instead of the report, once per turn and strategy (its index
   * among `strategies`), in turn order: the reports' `turnDetails` are then empty, and nothing
   * of a turn outlives its fold, so memory stays flat however many turns run. Without it the
   * details are kept in the reports.
   */
  onTurnDetail?: (strategy: number, detail: TurnDetail) => void;
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
  /** What-if only: the fixes measured after the warm-up build. */
  fixes?: TurnFix[];
}

/**
 * Builds every turn with every strategy and measures it. Given several sessions (connections to
 * one server), as many turns are measured at once, each on its own connection; every turn's
 * figures are still those of its own build, and the reports are put together in turn order, so
 * every exact figure, finding and prompt hash equals the one-session run (latencies, measured
 * under that concurrent load, do not).
 *
 * Each turn is folded into the reports as soon as every turn before it is (totals, sections,
 * findings, whether its prompts match the baseline's), and its prompts dropped: only the
 * details are kept, and not even those with `onTurnDetail`.
 *
 * @example
 * const reports = await runStrategies(session, turns, [naiveStrategy, optimizedStrategy], { repeat: 3 });
 * const parallel = await runStrategies([s1, s2, s3, s4], turns, [naiveStrategy, optimizedStrategy]);
 */
export async function runStrategies(
  session: ProfilingSession | readonly ProfilingSession[],
  turns: readonly Turn[] | readonly TurnInput[],
  strategies: readonly Strategy<any>[],
  options: RunOptions = {},
): Promise<StrategyReport[]> {
  const inputs =
    turns.length > 0 && 'label' in (turns[0] as object)
      ? (turns as readonly TurnInput[])
      : referenceTurnInputs(turns as readonly Turn[]);
  const sessions: readonly ProfilingSession[] = Array.isArray(session) ? session : [session as ProfilingSession];
  if (sessions.length === 0) throw new TypeError('runStrategies: no session to run on');
  const repeat = Math.max(1, Math.floor(options.repeat ?? 1));
  const baselineName = options.baseline ?? strategies[0]?.name;
  const baselineIndex = strategies.findIndex((s) => s.name === baselineName);
  if (baselineIndex < 0) throw new StrategyError(`baseline strategy "${baselineName}" is not among the strategies`);
  // Recordings are fingerprinted by the SQL parser, which loads asynchronously.
  await initFingerprinting();

  const folds = strategies.map((strategy, s) => new StrategyFold(strategy, s, options));
  const foldRow = (row: Built[]): void => {
    const reference = row[baselineIndex]!;
    row.forEach((b, s) => {
      const fold = folds[s]!;
      b.detail.contextIdentical = b.prompt === reference.prompt;
      if (!b.detail.contextIdentical && fold.difference === null) {
        fold.difference = {
          turn: b.detail.turn,
          conversationId: b.detail.conversationId,
          messageId: b.detail.messageId,
          diff: options.redactContent ? describeDifference(reference.prompt, b.prompt) : diffPrompts(reference.prompt, b.prompt),
        };
      }
      fold.add(b);
    });
  };

  /** Builds one turn with every strategy; null when interrupted before all of them finished. */
  const buildRow = async (on: ProfilingSession, t: number): Promise<Built[] | null> => {
    const row: Built[] = [];
    // Side by side: all strategies on this turn before the next, so drift hits them alike.
    for (const strategy of strategies) {
      if (options.signal?.aborted) return null;
      options.onProgress?.({ strategy: strategy.name, turn: t + 1, turns: inputs.length });
      const b = await buildTurn(on, strategy, inputs[t]!, repeat, options);
      // Only whole turns are reported: an interrupted turn would compare unlike with unlike.
      if (b === null) return null;
      row.push(b);
    }
    return row;
  };

  // Workers take turns in order; finished rows wait (at most one per other worker) until every
  // turn before them is folded, so the reports do not depend on which connection was faster.
  let next = 0;
  let folded = 0;
  let stopped = false;
  const finished = new Map<number, Built[]>();
  let failure: { turn: number; error: unknown } | null = null;
  const worker = async (on: ProfilingSession): Promise<void> => {
    while (!stopped && !options.signal?.aborted && next < inputs.length) {
      const t = next++;
      let row: Built[] | null;
      try {
        row = await buildRow(on, t);
      } catch (error) {
        // Turns are taken in order and a started turn is always finished, so the earliest
        // failing turn is the one a single connection would have failed on.
        if (failure === null || t < failure.turn) failure = { turn: t, error };
        stopped = true;
        return;
      }
      if (row === null) {
        stopped = true;
        return;
      }
      finished.set(t, row);
      for (let r = finished.get(folded); r !== undefined; r = finished.get(folded)) {
        finished.delete(folded);
        foldRow(r);
        folded += 1;
      }
    }
  };
  // Every build in flight listens for the errors a strategy lets escape (catchStrayErrors).
  const listeners = process.getMaxListeners();
  if (sessions.length > 1 && listeners !== 0) process.setMaxListeners(listeners + sessions.length);
  try {
    await Promise.all(sessions.map(worker));
  } finally {
    if (sessions.length > 1 && listeners !== 0) process.setMaxListeners(listeners);
  }
  if (failure !== null) throw (failure as { error: unknown }).error;
  return folds.map((fold) => fold.result());
}

/** One strategy's report, folded turn by turn. */
class StrategyFold {
  difference: StrategyReport['difference'] = null;
  private turns = 0;
  private readonly totals: Figures = { queries: 0, roundTrips: 0, bytes: 0, payloadBytes: 0, rows: 0 };
  private promptBytes = 0;
  private tokens = 0;
  private readonly latencies: number[] = [];
  private readonly findings = new FindingsAccumulator();
  private readonly sections = new SectionFold();
  /** What-if only: each turn's measured fixes, attached to the findings at the end. */
  private readonly fixes: (TurnFix[] | undefined)[] = [];
  private readonly details: TurnDetail[] = [];

  constructor(
    private readonly strategy: Strategy<any>,
    private readonly index: number,
    private readonly options: RunOptions,
  ) {}

  add(b: Built): void {
    const d = b.detail;
    this.turns += 1;
    const sum = sumFigures([this.totals, d]);
    Object.assign(this.totals, sum);
    this.promptBytes += d.promptBytes;
    this.tokens += d.promptTokens ?? 0;
    for (const l of d.latencyMs) this.latencies.push(l);
    this.findings.addTurn({ statements: d.statements, columns: b.columns });
    this.sections.add(d.statements);
    if (this.options.whatIf) this.fixes.push(b.fixes);
    if (this.options.onTurnDetail !== undefined) this.options.onTurnDetail(this.index, d);
    else this.details.push(d);
  }

  private findingsWithFixes(): Finding[] {
    const findings = this.findings.result();
    if (this.options.whatIf) attachFixes(findings, this.fixes);
    return findings;
  }

  result(): StrategyReport {
    const totals: TotalFigures = { ...this.totals };
    const n = this.turns || 1;
    const tokens = this.options.countTokens === undefined ? undefined : this.tokens;
    if (tokens !== undefined) totals.promptTokens = tokens;
    return {
      name: this.strategy.name,
      source: this.strategy.source ?? null,
      turns: this.turns,
      perTurn: {
        ...meanFigures(totals, n),
        promptBytes: mean(this.promptBytes, n),
        ...(tokens === undefined ? {} : { promptTokens: mean(tokens, n) }),
        latencyMs: percentiles(this.latencies),
      },
      totals,
      contextIdentical: this.difference === null,
      difference: this.difference,
      findings: this.findingsWithFixes(),
      sections: this.sections.result(n),
      turnDetails: this.details,
    };
  }
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
  // What-if rewrites run after the warm-up build, in its transaction, recorded apart: the
  // turn's own figures never include them, and its captured values check their rows.
  let fixes: TurnFix[] | undefined;
  const after = options.whatIf
    ? whatIfAfterTurn(sessionCatalog(session.control), (value) => toPrompt(strategy, input, value), (f) => (fixes = f))
    : undefined;
  // Run 0 is the warm-up: caches and plans settle; its figures are not kept.
  for (let run = 0; run <= repeat; run++) {
    // Interrupted after the first measured build: what was measured stands.
    if (signal?.aborted && first !== null) break;
    // Call sites too are captured on the warm-up only, and given to the measured builds' statements.
    const measureOptions = { ...limits, callSites: run === 0, ...(run === 0 && after !== undefined ? { after } : {}) };
    const measure = () => session.measure((db) => strategy.build(db, input.turn), measureOptions);
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
    ...(fixes === undefined ? {} : { fixes }),
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

/**
 * Figures per section over all turns, in order of first appearance (exported for `merge`,
 * which recomputes them from the shards' turns).
 *
 * @example
 * const sections = sectionFigures(strategy.turnDetails);
 */
export function sectionFigures(details: readonly TurnDetail[]): SectionFigures[] {
  const fold = new SectionFold();
  for (const d of details) fold.add(d.statements);
  return fold.result(details.length || 1);
}

/** Figures per section, folded turn by turn, in order of first appearance (a Map keeps insertion order). */
class SectionFold {
  private readonly sections = new Map<string | null, Figures>();

  /** One turn's statements. */
  add(statements: readonly StatementRecord[]): void {
    // Round trips of a section: distinct (turn, round trip) pairs it used, so per turn the distinct ones.
    const roundTrips = new Map<string | null, Set<number>>();
    for (const s of statements) {
      let figures = this.sections.get(s.section);
      if (figures === undefined) {
        figures = { queries: 0, roundTrips: 0, bytes: 0, payloadBytes: 0, rows: 0 };
        this.sections.set(s.section, figures);
      }
      figures.queries += 1;
      figures.bytes += s.wireBytes;
      figures.payloadBytes += s.payloadBytes;
      figures.rows += s.rows;
      let trips = roundTrips.get(s.section);
      if (trips === undefined) roundTrips.set(s.section, (trips = new Set()));
      trips.add(s.roundTrip);
    }
    for (const [name, trips] of roundTrips) this.sections.get(name)!.roundTrips += trips.size;
  }

  /** Totals and means over `turns`. */
  result(turns: number): SectionFigures[] {
    return [...this.sections].map(([name, figures]) => ({ name, totals: { ...figures }, perTurn: meanFigures(figures, turns) }));
  }
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
