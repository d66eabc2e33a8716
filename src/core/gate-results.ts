/**
 * What the CI gate's checks return — budget and baseline results, and the metrics they name —
 * as plain data. The report model holds these and the checks make them, so they live below both:
 * this module imports nothing.
 */

/** The gateable figures of the statements sent (also what baselines and sweeps track). */
export const METRICS = ['queries', 'roundTrips', 'bytes', 'payloadBytes', 'rows'] as const;
export type Metric = (typeof METRICS)[number];

/** What a budget can limit: the statements' figures, and the prompt's tokens (a whole turn's, not a section's). */
export const BUDGET_METRICS = [...METRICS, 'promptTokens'] as const;
export type BudgetMetric = (typeof BUDGET_METRICS)[number];

/** A statement (or a group of statements with one fingerprint) shown as responsible for a violation. */
export interface ResponsibleStatement {
  /** Position of the (first) statement in its turn. */
  seq: number;
  /** Statements in the group: more than 1 for a repeated fingerprint (an N+1) on a count budget. */
  count: number;
  sql: string;
  section: string | null;
  rows: number;
  bytes: number;
}

/** One budget a strategy went over. */
export interface Violation {
  metric: BudgetMetric;
  strategy: string;
  /** The section whose budget it was, or null for the strategy's own budget. */
  section: string | null;
  /** The turn that went over (null for a `total` budget). */
  turn: string | null;
  budget: number;
  actual: number;
  /** The statements behind the figure, largest first for byte metrics, in order otherwise (at most 20). */
  statements: ResponsibleStatement[];
}

/** Every budget checked, for reports that list passes too (JUnit). */
export interface BudgetCheck {
  strategy: string;
  section: string | null;
  metric: BudgetMetric;
  budget: number;
  /** The largest actual value (per turn) or the total. */
  worst: number;
  passed: boolean;
}

/** What checking a budget found. */
export interface BudgetResult {
  passed: boolean;
  per: 'turn' | 'total';
  source: string;
  checks: BudgetCheck[];
  violations: Violation[];
  /**
   * Silences of the budget file that matched no finding of this run: the code they excused
   * changed, so they excuse nothing now (and could hide a new finding of the same shape later).
   * `check --strict` fails on them.
   */
  staleSilences: { fingerprint: string; reason: string }[];
  /** Set by `check --strict`: stale silences fail the gate. */
  strict?: boolean;
}

/** The flag for each metric. */
export const METRIC_FLAGS: Record<BudgetMetric, string> = {
  queries: '--max-queries',
  roundTrips: '--max-round-trips',
  bytes: '--max-bytes',
  payloadBytes: '--max-payload-bytes',
  rows: '--max-rows',
  promptTokens: '--max-prompt-tokens',
};

/** A metric that grew, or shrank, in one turn. */
export interface BaselineChange {
  strategy: string;
  turn: string;
  metric: Metric;
  baseline: number;
  actual: number;
}

/** A fingerprint sent more (added) or less (removed) often than the baseline says. */
export interface FingerprintChange {
  strategy: string;
  turn: string;
  /**
   * The section the statements were sent in (null: outside any); absent when the baseline file
   * has no sections (snapshotted by an earlier version), so the whole turn was compared.
   */
  section?: string | null;
  fingerprint: string;
  baseline: number;
  actual: number;
}

/** What comparing a report with a baseline found. */
export interface BaselineResult {
  passed: boolean;
  file: string;
  regressions: BaselineChange[];
  improvements: BaselineChange[];
  added: FingerprintChange[];
  removed: FingerprintChange[];
  /** Turns in the baseline that the run did not replay, and the other way round. */
  missingTurns: { strategy: string; turn: string }[];
  newTurns: { strategy: string; turn: string }[];
  /** Turns found on both sides, whose figures were compared. */
  compared: number;
  /**
   * Whether the baseline's dataset was checked against the run's: false when either is unknown
   * (a file without the field, or a run on a --db or --setup database, whose data ctxbench did not generate).
   */
  datasetChecked: boolean;
  /** Set when the file was rewritten (tightened). */
  updated: boolean;
}

