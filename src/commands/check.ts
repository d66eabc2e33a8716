/**
 * `check` and `snapshot`: the CI gate. `check` runs the budgeted strategies and compares them
 * with budgets and with a committed baseline; `snapshot` writes that baseline.
 */
import {
  baselineProblems,
  compareWithBaseline,
  loadBaseline,
  renderBaseline,
  snapshot,
  tighten,
  type Baseline,
  type Tolerance,
} from '../core/baseline.js';
import { writeAtomically } from '../core/atomic-write.js';
import { checkBudget, type Budget } from '../core/budget.js';
import { UsageError } from '../core/errors.js';
import type { Report } from '../report/model.js';
import { compare, type CompareOptions } from './compare.js';

/** Options of {@link check}. */
export interface CheckOptions extends CompareOptions {
  budget?: Budget | null;
  /** A baseline file written by `snapshot`. */
  baselineFile?: string;
  tolerance?: Tolerance;
  /** When figures improved and nothing regressed, rewrite the baseline with the lower figures. */
  updateBaseline?: boolean;
  /** Fail when a silence of the budget file matched no finding (a stale silence). */
  strict?: boolean;
}

/**
 * Marks the findings a budget file silenced (their fingerprint listed with a reason).
 *
 * @example
 * applySilence(report, budget);
 */
export function applySilence(report: Report, budget: Budget): void {
  if (budget.silence.length === 0) return;
  const reasons = new Map(budget.silence.map((s) => [s.fingerprint, s.reason]));
  for (const strategy of report.strategies) {
    for (const finding of strategy.findings) {
      const reason = reasons.get(finding.fingerprint);
      if (reason !== undefined) finding.silenced = reason;
    }
  }
}

/**
 * Runs the strategies and checks them; the returned report carries `budget` and
 * `baselineFile` results (the CLI exits 1 when either failed or a context differs).
 *
 * @example
 * const report = await check({ strategies: [optimizedStrategy], budget: budgetFromLimits({ queries: 8 }), scale: 'tiny' });
 * if (!report.budget?.passed) process.exitCode = 1;
 */
export async function check(options: CheckOptions): Promise<Report> {
  if (!options.budget && options.baselineFile === undefined) {
    throw new UsageError('check: nothing to check against: give --max-queries/--max-bytes/…, --budget FILE, or --baseline FILE');
  }
  // Read the baseline before measuring: a missing file should fail in a second, not after the run.
  const baseline: Baseline | null = options.baselineFile === undefined ? null : await loadBaseline(options.baselineFile);
  const report = await compare(options);
  if (options.budget) {
    applySilence(report, options.budget);
    report.budget = checkBudget(report, options.budget);
    if (options.strict) {
      report.budget.strict = true;
      if (report.budget.staleSilences.length > 0) report.budget.passed = false;
    }
  }
  if (baseline !== null) {
    const result = compareWithBaseline(report, baseline, options.baselineFile!, options.tolerance);
    // A baseline that compared nothing (other data, other turns) would pass whatever the code does.
    const problems = baselineProblems(baseline, report, result, options.baselineFile!);
    if (problems.length > 0) throw new UsageError(problems);
    // An interrupted run measured only some turns: never tighten the file from it.
    if (options.updateBaseline && result.passed && result.improvements.length > 0 && !report.interrupted) {
      await writeAtomically(options.baselineFile!, renderBaseline(tighten(baseline, report)));
      result.updated = true;
    }
    report.baselineFile = result;
  }
  return report;
}

/**
 * Runs the strategies and returns the baseline of what they sent.
 *
 * @example
 * const { baseline } = await snapshotBaseline({ strategies: [naiveStrategy, optimizedStrategy] });
 */
export async function snapshotBaseline(options: CompareOptions): Promise<{ report: Report; baseline: Baseline }> {
  const report = await compare(options);
  return { report, baseline: snapshot(report) };
}

export { writeAtomically } from '../core/atomic-write.js';
