/**
 * `compare`: replay conversations through several strategies and report what each cost.
 */
import { allConversationIds, listTurns } from '../core/turns.js';
import { selectShard, type ShardSpec } from '../core/shard.js';
import { checkSchema } from '../core/schema-check.js';
import { startDelayProxy } from '../core/net/delay-proxy.js';
import { openSession, type ProfilingSession } from '../core/session.js';
import { referenceTurnInputs, runStrategies, type RunProgress } from '../core/runner.js';
import { customTurnInputs } from '../core/turn-file.js';
import { loadTokenizer, type TokenizerName } from '../core/tokens.js';
import type { Strategy } from '../core/types.js';
import type { TurnDetail } from '../report/model.js';
import { openDatabase, type OpenDatabase, type OpenDatabaseOptions } from '../db/open-database.js';
import { REPORT_VERSION, type Report } from '../report/model.js';
import { TOOL_VERSION } from '../version.js';

/** Options of {@link compare}. */
export interface CompareOptions extends OpenDatabaseOptions {
  strategies: Strategy[];
  /** Conversation ids to replay (default: every fixture conversation); `'all'`: every conversation of the database, by id. */
  conversations?: string[] | 'all';
  /**
   * Replay only one part of the turns (`--shard i/n`, see `partitionTurns`); the report says
   * which (`report.shard`), and `merge` joins the parts into the unsharded report.
   */
  shard?: ShardSpec;
  /**
   * Arbitrary turn objects, handed to each strategy's `build` unchanged (instead of
   * conversations): for strategies on another schema.
   */
  turns?: unknown[];
  /** Measured builds per turn after a warm-up build (default 1). */
  repeat?: number;
  /** Strategy the others are compared with (default: the first). */
  baseline?: string;
  onProgress?: (progress: RunProgress) => void;
  /**
   * Simulated network round-trip times, milliseconds: each runs every strategy again through
   * a delaying loopback proxy, and the report gains measured latencies per RTT.
   */
  rtt?: number[];
  /** How prompt tokens are counted (default `o200k`); `none` leaves them out of the report. */
  tokenizer?: TokenizerName;
  /** Limit of one build of one turn, milliseconds (default 60 000; 0: none): a strategy over it fails. */
  turnTimeoutMs?: number;
  /**
   * Aborting (Ctrl-C) cancels the statement in flight and ends the run: the report covers the
   * turns every strategy completed and says `interrupted`.
   */
  signal?: AbortSignal;
  /**
   * Measure the fix of each N+1 group and `SELECT *` with unused columns: findings gain `fix`.
   * The rewrites are extra read-only statements, never counted. Default false here, so that
   * `check`, `sweep` and `replay` send nothing extra; the `compare` command turns it on.
   */
  whatIf?: boolean;
  /**
   * Turns measured at once, each on a connection of its own (default 1). Every exact figure,
   * finding and prompt hash is the one-connection run's; latencies are measured under that
   * load. A real server only: the embedded database always runs one (see {@link effectiveConcurrency}).
   */
  concurrency?: number;
  /**
   * Where each turn's detail goes instead of the report (strategy index, detail), in turn
   * order: the report's `turnDetails` are then empty and memory stays flat however many turns
   * run (see `TurnDetailSpill` to keep them on disk and `renderJsonChunks` to write them).
   */
  onTurnDetail?: (strategy: number, detail: TurnDetail) => void;
}

/**
 * How many turns a run measures at once: `concurrency` on a real server, 1 on the embedded
 * database — PGlite runs one statement at a time, so parallel
 * connections would only queue behind each other (and its socket takes one connection).
 *
 * @example
 * effectiveConcurrency({ url: 'postgres://localhost/app', concurrency: 4 }) // 4
 * effectiveConcurrency({ concurrency: 4 }) // 1: embedded
 */
export function effectiveConcurrency(options: Pick<CompareOptions, 'url' | 'concurrency'>): number {
  if (options.url === undefined) return 1;
  return Math.max(1, Math.floor(options.concurrency ?? 1));
}

/**
 * The sessions a run measures on: the database's own, then `count - 1` more to the same URL
 * (with the same settings). `close` closes the extra ones.
 */
export async function openSessions(
  db: Pick<OpenDatabase, 'session' | 'connectUrl'>,
  count: number,
  options: OpenDatabaseOptions,
): Promise<{ sessions: ProfilingSession[]; close(): Promise<void> }> {
  const extra: ProfilingSession[] = [];
  const close = async () => {
    await Promise.all(extra.map((s) => s.close()));
  };
  try {
    for (let i = 1; i < count; i++) extra.push(await openSession(db.connectUrl, options));
  } catch (error) {
    await close();
    throw error;
  }
  return { sessions: [db.session, ...extra], close };
}

/** Runs every strategy once more through a delay proxy of `rttMs` in front of the database. */
async function runThroughProxy(
  url: string,
  rttMs: number,
  options: CompareOptions,
  turns: Parameters<typeof runStrategies>[1],
  repeat: number,
) {
  const target = new URL(url);
  const proxy = await startDelayProxy({ upstreamHost: target.hostname, upstreamPort: Number(target.port || 5432), rttMs });
  try {
    const proxied = new URL(url);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    const session = await openSession(proxied.toString(), options);
    try {
      return await runStrategies(session, turns, options.strategies, {
        repeat,
        baseline: options.baseline,
        onProgress: options.onProgress,
        signal: options.signal,
        turnTimeoutMs: options.turnTimeoutMs,
        // Only the latencies are used: no details kept, whatever the number of turns.
        onTurnDetail: () => undefined,
      });
    } finally {
      await session.close();
    }
  } finally {
    await proxy.close();
  }
}

/**
 * Runs the comparison and returns the report (the JSON schema of `--format json`).
 *
 * @example
 * import { compare, naiveStrategy, optimizedStrategy } from 'ctxbench';
 * const report = await compare({ strategies: [naiveStrategy, optimizedStrategy], scale: 'tiny' });
 * console.log(report.strategies.map((s) => [s.name, s.perTurn.queries]));
 */
export async function compare(options: CompareOptions): Promise<Report> {
  // The tokenizer's rank table loads while the database starts.
  const tokenizerLoad = loadTokenizer(options.tokenizer);
  tokenizerLoad.catch(() => undefined);
  // With custom turns the database may have any schema: don't insist on the reference one.
  const db = await openDatabase({ ...options, anySchema: options.anySchema ?? options.turns !== undefined });
  try {
    // A server's role may lack a table or a privilege: say so before running, as diagnose does.
    if (options.url !== undefined) await checkSchema(db.session.control, options.strategies);
    const conversations =
      options.conversations === 'all' ? await allConversationIds(db.session.control) : options.conversations;
    const allTurns =
      options.turns !== undefined
        ? customTurnInputs(options.turns)
        : referenceTurnInputs(await listTurns(db.session.control, conversations ?? db.fixtures.map((f) => f.id)));
    const sharded = options.shard === undefined ? null : selectShard(allTurns, options.shard);
    const turns = sharded?.turns ?? allTurns;
    const repeat = Math.max(1, Math.floor(options.repeat ?? 1));
    const tokenizer = await tokenizerLoad;
    const sessions = await openSessions(db, effectiveConcurrency(options), options);
    let strategies: Awaited<ReturnType<typeof runStrategies>>;
    try {
      strategies = await runStrategies(sessions.sessions, turns, options.strategies, {
        repeat,
        baseline: options.baseline,
        onProgress: options.onProgress,
        countTokens: tokenizer?.count,
        signal: options.signal,
        turnTimeoutMs: options.turnTimeoutMs,
        onTurnDetail: options.onTurnDetail,
        whatIf: options.whatIf === true,
      });
    } finally {
      await sessions.close();
    }
    const baseline = options.baseline ?? options.strategies[0]!.name;
    const report: Report = {
      version: REPORT_VERSION,
      tool: { name: 'ctxbench', version: TOOL_VERSION },
      database: db.info,
      dataset: db.dataset,
      repeat,
      tokenizer: tokenizer?.encoding ?? null,
      baseline,
      strategies,
      contextIdentical: strategies.every((s) => s.contextIdentical),
    };
    if (sharded !== null) report.shard = sharded.shard;
    if (options.signal?.aborted) report.interrupted = true;
    if (options.rtt !== undefined && options.rtt.length > 0 && !report.interrupted) {
      report.latencyByRtt = [];
      for (const rttMs of options.rtt) {
        if (options.signal?.aborted) {
          report.interrupted = true;
          break;
        }
        const measured = await runThroughProxy(db.connectUrl, rttMs, options, turns, repeat);
        report.latencyByRtt.push({
          rttMs,
          strategies: measured.map((s) => ({ name: s.name, latencyMs: s.perTurn.latencyMs })),
        });
      }
    }
    return report;
  } finally {
    await db.close();
  }
}
