/**
 * The report `compare` returns and `--format json` prints: a stable, versioned schema
 * (docs/design.md §6). Every other format is rendered from this object and nothing else.
 */
import type { ShapeChange } from '../core/analysis/shape-changes.js';
import type { BaselineResult, BudgetResult } from '../core/gate-results.js';
import type { StatementRecord } from '../core/types.js';

/**
 * Version of the JSON report schema; bumped on any incompatible change.
 *
 * @example
 * if (report.version !== REPORT_VERSION) throw new Error('unsupported report');
 */
export const REPORT_VERSION = 1;

/** Latency percentiles in milliseconds over turns × repeats (after warm-up). */
export interface LatencySummary {
  p50: number;
  p95: number;
  max: number;
}

/** The deterministic, gateable figures of a turn (or their mean/total). */
export interface Figures {
  queries: number;
  roundTrips: number;
  /** Wire bytes received for the strategy's statements. */
  bytes: number;
  /** Bytes of the non-NULL field values of the rows received. */
  payloadBytes: number;
  rows: number;
}

/** Means over turns. */
export interface PerTurnFigures extends Figures {
  /** Mean UTF-8 size of the rendered prompt. */
  promptBytes: number;
  /** Mean prompt tokens, counted with the report's `tokenizer`; absent when none was used. */
  promptTokens?: number;
  latencyMs: LatencySummary;
}

/** Exact sums over turns: the figures, and the prompt tokens when a tokenizer counted them. */
export interface TotalFigures extends Figures {
  promptTokens?: number;
}

/** One replayed turn of one strategy. */
export interface TurnDetail extends Figures {
  /** How the turn is named in reports: `conversation/message` for the reference schema, else the turn's `id`/`label` or `#n`. */
  turn: string;
  /** Reference schema only (null for `--turns` input without these fields). */
  conversationId: string | null;
  messageId: string | null;
  promptBytes: number;
  /** The prompt's tokens, counted with the report's `tokenizer`; absent when none was used. */
  promptTokens?: number;
  promptSha256: string;
  /** The prompt's text: only in recordings made with `--show-content` (a before/after diff needs it). */
  prompt?: string;
  /** Wall time of each measured build of this turn (one per repeat), milliseconds. */
  latencyMs: number[];
  /**
   * Whether this turn's prompt equals the baseline strategy's prompt for the same turn; null
   * when it was not compared (`compare --before/--after`: no prompt, or no such turn on the other side).
   */
  contextIdentical: boolean | null;
  statements: StatementRecord[];
}

/** Something worth a developer's attention in the statements a strategy sent. */
export interface Finding {
  /** `unused-column`: a column the statement fetched whose values never appear in the prompt. */
  kind: 'n-plus-one' | 'duplicate' | 'select-star' | 'unused-column';
  /** The statement's normalised SQL (literals and parameters as `$n`). */
  fingerprint: string;
  /** An example of the SQL, as sent. */
  sql: string;
  /** unused-column only: the column, as the statement named it. */
  column?: string;
  /** Turns in which it occurred. */
  turns: number;
  /** Statements involved, over all turns. */
  statements: number;
  /** The largest group within one turn (for n-plus-one and duplicate; statements per turn for unused-column). */
  maxPerTurn: number;
  /** Wire bytes of the statements involved, over all turns; for unused-column, payload bytes of the column's values. */
  bytes: number;
  /** Set when a budget file silenced this finding: the reason given there. */
  silenced?: string;
  /** What-if only (n-plus-one, select-star): the rewrite ctxbench ran and measured, or why it did not. */
  fix?: FindingFix;
  /**
   * Where the user's code sent its statements (`path:line`), distinct, first seen first, at
   * most 5; absent when none is known (recordings, unused-column findings).
   */
  callSites?: string[];
  /**
   * The sqlcommenter tag groups its statements carried (`{ controller: 'orders', route: '/orders' }`,
   * without per-request tags such as `traceparent`), distinct, first seen first, at most 5;
   * absent when none had tags.
   */
  tags?: Record<string, string>[];
}

/** Statements, round trips, rows and bytes of a set of statements, summed over turns. */
export interface FixFigures {
  statements: number;
  roundTrips: number;
  rows: number;
  /** Wire bytes received. */
  bytes: number;
  payloadBytes: number;
}

/**
 * A finding's fix, measured: the rewrite (the N+1 group as one `= ANY($n)` statement, or a
 * `SELECT *` with only the used columns) was run after the warm-up build of each turn, inside
 * its read-only transaction, and never counted in the turn's figures. `different-rows`: it ran
 * but returned other rows than the statements it replaces, so it is no fix; `failed`: the
 * server refused it, or its rows could not be checked. A measured fix sums the `turns` where
 * the finding's shape had something to fix (for select-star: a column unused in that turn);
 * `before` is the replaced statements' figures in those turns.
 */
export type FindingFix =
  | ({ status: 'measured'; sql: string; turns: number; before: FixFigures } & FixFigures)
  | { status: 'not-rewritable'; reason: string }
  | { status: 'different-rows' | 'failed'; sql: string; reason: string };

/** The first turn where a strategy's prompt differs from the baseline's, with a readable diff. */
export interface ContextDifference {
  turn: string;
  conversationId: string | null;
  messageId: string | null;
  /** Unified-style line diff, baseline (`-`) against this strategy (`+`). */
  diff: string;
}

/** Figures of the statements a strategy sent inside one section (`db.section`), over all turns. */
export interface SectionFigures {
  /** The section's name; `null` for statements sent outside any section. */
  name: string | null;
  totals: Figures;
  /** Means over turns. */
  perTurn: Figures;
}

/** Everything measured for one strategy. */
export interface StrategyReport {
  name: string;
  /** The file a user strategy was loaded from; null for built-in strategies. */
  source: string | null;
  /** Number of turns replayed. */
  turns: number;
  perTurn: PerTurnFigures;
  totals: TotalFigures;
  /** True when every turn's prompt equals the baseline strategy's; null when no turn was compared. */
  contextIdentical: boolean | null;
  /** Present when the prompt differs somewhere. */
  difference: ContextDifference | null;
  findings: Finding[];
  /** Breakdown by section, in order of first appearance. */
  sections: SectionFigures[];
  turnDetails: TurnDetail[];
}

/** What database the run measured. Never contains a password. */
export interface DatabaseInfo {
  kind: 'pglite' | 'postgres';
  serverVersion: string;
  /** Connection URL with the password masked; null for the embedded database. */
  url: string | null;
}

/**
 * Which part of a run's turns a `--shard i/n` report measured: what `ctxbench merge` needs to
 * put the shards back in the unsharded order and to check that none is missing.
 */
export interface ShardInfo {
  /** This shard, from 1. */
  index: number;
  /** How many shards the turns were cut into. */
  count: number;
  /** Turns of the whole, unsharded run. */
  totalTurns: number;
  /** sha256 of the whole turn list (labels and turns, in order): equal on every shard of one run. */
  turnSetSha256: string;
  /** Positions (from 0) of this shard's turns in the unsharded order, ascending. */
  positions: number[];
}

/** The whole comparison. */
export interface Report {
  version: typeof REPORT_VERSION;
  tool: { name: 'ctxbench'; version: string };
  database: DatabaseInfo;
  dataset: { scale: string; seed: number } | null;
  /** Measured builds per turn (after one warm-up build). */
  repeat: number;
  /** The encoding prompt tokens were counted with (`o200k_base`), or null when not counted. */
  tokenizer?: string | null;
  /** Name of the strategy the others are compared against. */
  baseline: string;
  strategies: StrategyReport[];
  /**
   * True when every strategy's context equals the baseline's on every turn; null when nothing
   * was compared (`compare --before/--after` of files without prompts).
   */
  contextIdentical: boolean | null;
  /**
   * `compare --before/--after` only: turns whose prompts were not compared, so that no ✓ stands
   * for them — on one side only, or without a prompt hash on either side.
   */
  unchecked?: { onlyInBefore: string[]; onlyInAfter: string[]; noPrompt: string[] };
  /** Present with `--rtt`: latency of every strategy measured through a delay proxy per RTT. */
  latencyByRtt?: { rttMs: number; strategies: { name: string; latencyMs: LatencySummary }[] }[];
  /** Present when a budget was given: whether every strategy stayed within it. */
  budget?: BudgetResult;
  /**
   * `compare --before --after` only: per paired turn and section, the statement shapes sent more
   * (added) or less (removed) often after the change.
   */
  shapeChanges?: ShapeChange[];
  /** Present when checked against a baseline file (`ctxbench check --baseline`). */
  baselineFile?: BaselineResult;
  /** Present (true) when Ctrl-C or SIGTERM stopped the run: the figures cover the turns every strategy completed. */
  interrupted?: true;
  /** Present on a `--shard i/n` run: which of the run's turns this report covers (`ctxbench merge` joins the shards). */
  shard?: ShardInfo;
}
