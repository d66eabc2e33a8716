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
  return gate(await compare(options), baseline, options);
}

/** Options of {@link checkReport}: what {@link check} gates with, without the run. */
export type GateOptions = Pick<CheckOptions, 'budget' | 'baselineFile' | 'tolerance' | 'updateBaseline' | 'strict'>;

/**
 * Gates a saved report (`check --report merged.json`: the merge of a sharded run, or any
 * `--format json` report) exactly as {@link check} gates a run: the returned copy carries
 * `budget` and `baselineFile` results. A single shard is refused: it holds only some turns,
 * so a budget on totals or a stale silence would be judged on part of the run.
 *
 * @example
 * const gated = await checkReport(await merge(files), { budget, baselineFile: 'ctxbench.baseline.json' });
 * if (!gated.budget?.passed) process.exitCode = 1;
 */
export async function checkReport(report: Report, options: GateOptions, file = 'the report'): Promise<Report> {
  if (!options.budget && options.baselineFile === undefined) {
    throw new UsageError('check: nothing to check against: give --max-queries/--max-bytes/…, --budget FILE, or --baseline FILE');
  }
  if (report.shard !== undefined) {
    throw new UsageError(
      `--report: ${file} is shard ${report.shard.index}/${report.shard.count} of a run: merge every shard first ("ctxbench merge shard-*.json --format json --output merged.json") and check the merged report`,
    );
  }
  if (report.interrupted) throw new UsageError(`--report: ${file} is of an interrupted run: it covers only some turns`);
  const baseline: Baseline | null = options.baselineFile === undefined ? null : await loadBaseline(options.baselineFile);
  const copy = structuredClone(report);
  // Verdicts of an earlier gate in the file are replaced by this one's.
  delete copy.budget;
  delete copy.baselineFile;
  for (const s of copy.strategies) for (const f of s.findings) delete f.silenced;
  return gate(copy, baseline, options);
}

/** Budgets and the baseline on a measured report (shared by a run and a saved report). */
async function gate(report: Report, baseline: Baseline | null, options: GateOptions): Promise<Report> {
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
    // A shard's run measured only its own turns: the others are not "missing" from it.
    if (report.shard !== undefined) result.missingTurns = [];
    // An interrupted run measured only some turns, a shard only its part: never tighten the file from them.
    if (options.updateBaseline && result.passed && result.improvements.length > 0 && !report.interrupted && report.shard === undefined) {
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
