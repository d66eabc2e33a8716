/**
 * The measuring loop: every turn, every strategy, side by side on one instrumented connection.
 * Knows nothing of where the database came from or how the result will be printed.
 */
import { diffPrompts } from './analysis/prompt-diff.js';
import { findFindings } from './analysis/findings.js';
import { StrategyError } from './errors.js';
import { promptBytes, promptSha256, renderPrompt } from './render/prompt-renderer.js';
import type { ProfilingSession } from './session.js';
import type { StatementRecord, Strategy, Turn } from './types.js';
import type { Figures, LatencySummary, StrategyReport, TurnDetail } from '../report/model.js';

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
}

/** A turn's prompt, as built by one strategy. */
interface Built {
  prompt: string;
  detail: TurnDetail;
}

/**
 * Builds every turn with every strategy and measures it.
 *
 * @example
 * const reports = await runStrategies(session, turns, [naiveStrategy, optimizedStrategy], { repeat: 3 });
 */
export async function runStrategies(
  session: ProfilingSession,
  turns: readonly Turn[],
  strategies: readonly Strategy[],
  options: RunOptions = {},
): Promise<StrategyReport[]> {
  const repeat = Math.max(1, Math.floor(options.repeat ?? 1));
  const baselineName = options.baseline ?? strategies[0]?.name;
  const baselineIndex = strategies.findIndex((s) => s.name === baselineName);
  if (baselineIndex < 0) throw new StrategyError(`baseline strategy "${baselineName}" is not among the strategies`);

  const built: Built[][] = strategies.map(() => []);
  for (const [t, turn] of turns.entries()) {
    // Side by side: all strategies on this turn before the next, so drift hits them alike.
    for (const [s, strategy] of strategies.entries()) {
      options.onProgress?.({ strategy: strategy.name, turn: t + 1, turns: turns.length });
      built[s]!.push(await buildTurn(session, strategy, turn, repeat));
    }
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
          conversationId: b.detail.conversationId,
          messageId: b.detail.messageId,
          diff: diffPrompts(reference.prompt, b.prompt),
        };
      }
    }
    const details = mine.map((b) => b.detail);
    const totals = sumFigures(details);
    const n = details.length || 1;
    return {
      name: strategy.name,
      turns: details.length,
      perTurn: {
        queries: mean(totals.queries, n),
        roundTrips: mean(totals.roundTrips, n),
        bytes: mean(totals.bytes, n),
        payloadBytes: mean(totals.payloadBytes, n),
        rows: mean(totals.rows, n),
        promptBytes: mean(details.reduce((a, d) => a + d.promptBytes, 0), n),
        latencyMs: percentiles(details.flatMap((d) => d.latencyMs)),
      },
      totals,
      contextIdentical: difference === null,
      difference,
      findings: findFindings(details),
      turnDetails: details,
    };
  });
}

async function buildTurn(session: ProfilingSession, strategy: Strategy, turn: Turn, repeat: number): Promise<Built> {
  let first: { prompt: string; statements: StatementRecord[] } | null = null;
  const latencies: number[] = [];
  // Run 0 is the warm-up: caches and plans settle; its figures are not kept.
  for (let run = 0; run <= repeat; run++) {
    const m = await session.measure((db) => strategy.build(db, turn));
    if (m.error !== undefined) throw strategyFailure(strategy, turn, m.error, m.statements);
    const prompt = toPrompt(strategy, turn, m.value);
    if (run === 0) continue;
    latencies.push(round(m.latencyMs, 3));
    first ??= { prompt, statements: m.statements };
  }
  const { prompt, statements } = first!;
  return {
    prompt,
    detail: {
      conversationId: turn.conversationId,
      messageId: turn.messageId,
      ...sumFigures([figuresOf(statements)]),
      promptBytes: promptBytes(prompt),
      promptSha256: promptSha256(prompt),
      latencyMs: latencies,
      contextIdentical: true,
      statements,
    },
  };
}

function toPrompt(strategy: Strategy, turn: Turn, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) return renderPrompt(value as Parameters<typeof renderPrompt>[0]);
  throw new StrategyError(
    `strategy "${strategy.name}" returned ${value === undefined ? 'nothing' : typeof value} for turn ${turn.conversationId}/${turn.messageId}: expected a context object or a prompt string`,
  );
}

function strategyFailure(strategy: Strategy, turn: Turn, error: unknown, statements: StatementRecord[]): StrategyError {
  const failed = statements.find((s) => s.error !== null) ?? statements.at(-1);
  const message = error instanceof Error ? error.message : String(error);
  const sql = failed ? ` (SQL: ${failed.sql.replace(/\s+/g, ' ').slice(0, 300)})` : '';
  return new StrategyError(
    `strategy "${strategy.name}" failed on turn ${turn.conversationId}/${turn.messageId}: ${message}${sql}`,
    { cause: error },
  );
}

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

function sumFigures(items: readonly Figures[]): Figures {
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

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

function mean(total: number, n: number): number {
  return round(total / n, 3);
}

/** Nearest-rank percentiles. */
export function percentiles(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { p50: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
  return { p50: round(rank(0.5), 3), p95: round(rank(0.95), 3), max: round(sorted.at(-1)!, 3) };
}
