/**
 * `compare`: replay conversations through several strategies and report what each cost.
 */
import { listTurns } from '../core/turns.js';
import { referenceTurnInputs, runStrategies, type RunProgress } from '../core/runner.js';
import { customTurnInputs } from '../core/turn-file.js';
import type { Strategy } from '../core/types.js';
import { openDatabase, type OpenDatabaseOptions } from '../db/open-database.js';
import { REPORT_VERSION, type Report } from '../report/model.js';
import { TOOL_VERSION } from '../version.js';

/** Options of {@link compare}. */
export interface CompareOptions extends OpenDatabaseOptions {
  strategies: Strategy[];
  /** Conversation ids to replay (default: every fixture conversation). */
  conversations?: string[];
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
  // With custom turns the database may have any schema: don't insist on the reference one.
  const db = await openDatabase({ ...options, anySchema: options.anySchema ?? options.turns !== undefined });
  try {
    const turns =
      options.turns !== undefined
        ? customTurnInputs(options.turns)
        : referenceTurnInputs(await listTurns(db.session.control, options.conversations ?? db.fixtures.map((f) => f.id)));
    const repeat = Math.max(1, Math.floor(options.repeat ?? 1));
    const strategies = await runStrategies(db.session, turns, options.strategies, {
      repeat,
      baseline: options.baseline,
      onProgress: options.onProgress,
    });
    const baseline = options.baseline ?? options.strategies[0]!.name;
    return {
      version: REPORT_VERSION,
      tool: { name: 'ctxbench', version: TOOL_VERSION },
      database: db.info,
      dataset: db.dataset,
      repeat,
      baseline,
      strategies,
      contextIdentical: strategies.every((s) => s.contextIdentical),
    };
  } finally {
    await db.close();
  }
}
