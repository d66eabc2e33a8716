/**
 * `ctxbench check` (the CI gate) and `ctxbench snapshot` (the baseline it ratchets).
 */
import type { Command } from 'commander';
import { parseTolerance, renderBaseline, type Tolerance } from '../core/baseline.js';
import type { Report } from '../report/model.js';
import { FORMATS, STOPPING, emitFailure, renderReport, reportFailures } from './compare-command.js';
import { catchInterrupts, reportInterrupted } from './interrupt.js';
import type { CliIo } from './io.js';
import { Problems, parseChoice } from './options.js';
import { createProgress } from './progress.js';
import { addRunOptions, checkOutput, emit, parseRunOptions, progressHandlers, type RunFlags } from './run-options.js';

interface CheckFlags extends RunFlags {
  strict?: boolean;
  format: string;
  baseline?: string;
  tolerance?: string;
  updateBaseline?: boolean;
}

export function registerCheck(program: Command, io: CliIo): void {
  addRunOptions(
    program
      .command('check')
      .description(
        'run the budgeted strategies and exit 1 when a budget is exceeded, a figure grew beyond the baseline, or a context differs',
      ),
    {},
  )
    .option('--baseline <file>', 'a baseline written by "ctxbench snapshot": fail when a figure grows beyond it')
    .option('--tolerance <list>', 'allowed growth over the baseline per metric, e.g. bytes=5%,rows=2 (default: none)')
    .option('--update-baseline', 'when figures improved and nothing regressed, tighten the baseline file (the ratchet)')
    .option('--strict', 'fail when a silence of the budget file matched no finding in the run (a stale silence)')
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .action(async (flags: CheckFlags) => {
      // Loaded on use: the database stack is heavy, and --help should be instant.
      const { check } = await import('../commands/check.js');
      const problems = new Problems();
      const options = await parseRunOptions(flags, io, problems);
      const format = parseChoice(problems, '--format', flags.format, FORMATS);
      let tolerance: Tolerance = {};
      if (flags.tolerance !== undefined) {
        try {
          tolerance = parseTolerance(flags.tolerance);
        } catch (error) {
          problems.collect(error);
        }
      }
      if (flags.updateBaseline && flags.baseline === undefined) problems.add('--update-baseline: needs --baseline FILE');
      if (flags.updateBaseline) await checkOutput(problems, '--baseline', flags.baseline);
      if (options.budget === null && flags.baseline === undefined) {
        problems.add('check: nothing to check against: give --max-queries/--max-bytes/…, --budget FILE, or --baseline FILE');
      }
      problems.done();
      const progress = createProgress(io);
      const interruption = catchInterrupts(io, STOPPING);
      let report: Report;
      try {
        report = await check({
          ...options.compare,
          ...progressHandlers(progress),
          signal: interruption.signal,
          budget: options.budget,
          baselineFile: flags.baseline,
          tolerance,
          updateBaseline: flags.updateBaseline,
          strict: flags.strict === true,
        });
      } catch (error) {
        progress.stop();
        await emitFailure(error, format, flags.output, io);
        throw error;
      } finally {
        progress.stop();
        interruption.dispose();
      }
      await emit(await renderReport(report, format, io, flags.output !== undefined), flags.output, io);
      reportFailures(report, io);
      reportInterrupted(report, io);
      if (report.baselineFile?.updated) io.stderr(`ctxbench: figures improved: tightened ${report.baselineFile.file}\n`);
    });
}

export function registerSnapshot(program: Command, io: CliIo): void {
  addRunOptions(
    program
      .command('snapshot')
      .description('write a baseline of each turn\'s figures and SQL fingerprints, for "ctxbench check --baseline"'),
    { strategies: 'optimized' },
  ).action(async (flags: RunFlags) => {
    // Loaded on use: the database stack is heavy, and --help should be instant.
    const { snapshotBaseline, writeAtomically } = await import('../commands/check.js');
    const problems = new Problems();
    const options = await parseRunOptions(flags, io, problems);
    problems.done();
    const progress = createProgress(io);
    const interruption = catchInterrupts(io, 'cancelling the statement in flight and rolling back; no baseline is written');
    let result;
    try {
      result = await snapshotBaseline({ ...options.compare, ...progressHandlers(progress), signal: interruption.signal });
    } finally {
      progress.stop();
      interruption.dispose();
    }
    // A baseline of some of the turns would fail every later check: write none.
    if (reportInterrupted(result.report, io)) return;
    const text = renderBaseline(result.baseline);
    if (flags.output === undefined) {
      await emit(text, undefined, io);
    } else {
      await writeAtomically(flags.output, text, '--output');
      const turns = Object.values(result.baseline.strategies).reduce((a, t) => a + Object.keys(t).length, 0);
      io.stderr(
        `ctxbench: wrote ${flags.output} (${Object.keys(result.baseline.strategies).length} strategies, ${turns} turns)\n`,
      );
    }
    reportFailures({ ...result.report, budget: undefined }, io);
  });
}
