/**
 * `ctxbench check` (the CI gate) and `ctxbench snapshot` (the baseline it ratchets).
 */
import type { Command } from 'commander';
import { parseTolerance, renderBaseline, snapshot, type Tolerance } from '../core/baseline.js';
import type { Report } from '../report/model.js';
import { FORMATS, STOPPING, emitFailure, renderReport, reportFailures } from './compare-command.js';
import { reportInterrupted, withRunHooks } from './interrupt.js';
import type { CliIo } from './io.js';
import { Problems, parseChoice } from './options.js';
import { addRunOptions, budgetCounts, checkOutput, emit, parseBudgetFlags, parseRunOptions, type RunFlags } from './run-options.js';
import type { Budget } from '../core/budget.js';
import { reportShard } from './merge-command.js';

interface CheckFlags extends RunFlags {
  strict?: boolean;
  format: string;
  baseline?: string;
  tolerance?: string;
  updateBaseline?: boolean;
  report?: string;
}

/** Flags that choose what to run: meaningless when `check --report` gates a saved report. */
const RUN_FLAGS: [keyof CheckFlags, string][] = [
  ['db', '--db'],
  ['strategies', '--strategies'],
  ['conversation', '--conversation'],
  ['turns', '--turns'],
  ['setup', '--setup'],
  ['scale', '--scale'],
  ['seed', '--seed'],
  ['baselineStrategy', '--baseline-strategy'],
  ['rtt', '--rtt'],
  ['tokenizer', '--tokenizer'],
  ['shard', '--shard'],
];

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
    .option('--report <file>', 'gate this saved report (--format json of compare or merge) instead of running')
    .action(async (flags: CheckFlags) => {
      if (flags.report !== undefined) return checkSavedReport(flags, io);
      // Loaded on use: the database stack is heavy, and --help should be instant.
      const { check } = await import('../commands/check.js');
      const problems = new Problems();
      const options = await parseRunOptions(flags, io, problems);
      if (flags.shard !== undefined) shardGateProblems(problems, flags, options.budget);
      const format = parseChoice(problems, '--format', flags.format, FORMATS);
      const tolerance = await gateProblems(problems, flags, options.budget !== null);
      problems.done();
      const report = await withRunHooks(
        io,
        STOPPING,
        (hooks) =>
          check({
            ...options.compare,
            ...hooks,
            budget: options.budget,
            baselineFile: flags.baseline,
            tolerance,
            updateBaseline: flags.updateBaseline,
            strict: flags.strict === true,
          }),
        (error) => emitFailure(error, format, flags.output, io),
      );
      await emit(await renderReport(report, format, io, flags.output !== undefined), flags.output, io);
      reportShard(report, io);
      reportFailures(report, io);
      reportInterrupted(report, io);
      if (report.baselineFile?.updated) io.stderr(`ctxbench: figures improved: tightened ${report.baselineFile.file}\n`);
    });
}

/**
 * What a shard cannot judge alone, since it measured only its part of the turns: a budget on
 * the run's totals, a stale silence (the finding may be in another shard), tightening the
 * baseline. Per-turn budgets and the baseline's per-turn figures it can judge.
 */
function shardGateProblems(problems: Problems, flags: CheckFlags, budget: Budget | null): void {
  const merged = 'gate the merged report instead: "ctxbench merge shard-*.json --format json --output merged.json" then "ctxbench check --report merged.json …"';
  if (budget?.per === 'total') problems.add(`--shard: a budget per total covers the whole run, not one shard: ${merged}`);
  if (flags.strict) problems.add(`--shard and --strict: a silence may match a finding of another shard: ${merged}`);
  if (flags.updateBaseline) problems.add(`--shard and --update-baseline: a shard measured only some turns: ${merged}`);
}

/** `check --report FILE`: the same budgets and baseline, on a saved (merged) report. */
/** The gate's own flags, checked alike for a run and a saved report: the tolerance they give. */
async function gateProblems(problems: Problems, flags: CheckFlags, hasBudget: boolean): Promise<Tolerance> {
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
  if (!hasBudget && flags.baseline === undefined) {
    problems.add('check: nothing to check against: give --max-queries/--max-bytes/…, --budget FILE, or --baseline FILE');
  }
  return tolerance;
}

async function checkSavedReport(flags: CheckFlags, io: CliIo): Promise<void> {
  const { checkReport } = await import('../commands/check.js');
  const { readReportFile } = await import('../commands/merge.js');
  const problems = new Problems();
  for (const [key, flag] of RUN_FLAGS) {
    if (flags[key] !== undefined) problems.add(`${flag}: chooses what to run; --report gates a saved report (give one or the other)`);
  }
  const budget = await parseBudgetFlags(flags, problems);
  const format = parseChoice(problems, '--format', flags.format, FORMATS);
  const tolerance = await gateProblems(problems, flags, budget !== null);
  await checkOutput(problems, '--output', flags.output);
  let saved: Report | undefined;
  try {
    saved = await readReportFile(flags.report!, '--report');
  } catch (error) {
    problems.collect(error);
  }
  if (saved !== undefined && saved.tokenizer == null && budgetCounts(budget, 'promptTokens'))
    problems.add(`--report: ${flags.report} has no prompt tokens (it was made with --tokenizer none): a promptTokens budget cannot judge it`);
  if (saved !== undefined && budget !== null) {
    const names = saved.strategies.map((s) => s.name);
    for (const name of Object.keys(budget.strategies)) {
      if (!names.includes(name)) problems.add(`${budget.source}: strategies.${name}: not among the report's strategies (${names.join(', ')})`);
    }
  }
  problems.done();
  const report = await checkReport(
    saved!,
    { budget, baselineFile: flags.baseline, tolerance, updateBaseline: flags.updateBaseline, strict: flags.strict === true },
    flags.report,
  );
  await emit(await renderReport(report, format, io, flags.output !== undefined), flags.output, io);
  reportFailures(report, io);
  if (report.baselineFile?.updated) io.stderr(`ctxbench: figures improved: tightened ${report.baselineFile.file}\n`);
}

/** `snapshot --report FILE`: the baseline of a saved (merged) report, written as a run's would be. */
async function snapshotSavedReport(flags: RunFlags & { report?: string }, command: Command, io: CliIo): Promise<void> {
  const { readReportFile } = await import('../commands/merge.js');
  const { writeAtomically } = await import('../commands/check.js');
  const problems = new Problems();
  for (const option of command.options) {
    const key = option.attributeName();
    if (key === 'report' || key === 'output') continue;
    if (command.getOptionValueSource(key) === 'cli') problems.add(`${option.long}: chooses what to run; --report writes the baseline of a saved report (give one or the other)`);
  }
  await checkOutput(problems, '--output', flags.output);
  let report: Report | undefined;
  try {
    report = await readReportFile(flags.report!, '--report');
  } catch (error) {
    problems.collect(error);
  }
  if (report?.shard !== undefined) {
    problems.add(`--report: ${flags.report} is shard ${report.shard.index}/${report.shard.count} of a run: merge every shard first ("ctxbench merge shard-*.json --format json --output merged.json")`);
  }
  if (report?.interrupted) problems.add(`--report: ${flags.report} is of an interrupted run: it covers only some turns`);
  problems.done();
  const baseline = snapshot(report!);
  const text = renderBaseline(baseline);
  if (flags.output === undefined) await emit(text, undefined, io);
  else {
    await writeAtomically(flags.output, text, '--output');
    const turns = Object.values(baseline.strategies).reduce((a, t) => a + Object.keys(t).length, 0);
    io.stderr(`ctxbench: wrote ${flags.output} (${Object.keys(baseline.strategies).length} strategies, ${turns} turns)\n`);
  }
  reportFailures({ ...report!, budget: undefined, baselineFile: undefined }, io);
}

export function registerSnapshot(program: Command, io: CliIo): void {
  addRunOptions(
    program
      .command('snapshot')
      .description('write a baseline of each turn\'s figures and SQL fingerprints, for "ctxbench check --baseline"'),
    { strategies: 'optimized' },
  ).option('--report <file>', 'write the baseline of this saved report (compare or merge --format json) instead of running').action(async (flags: RunFlags & { report?: string }, command: Command) => {
    if (flags.report !== undefined) return snapshotSavedReport(flags, command, io);
    // Loaded on use: the database stack is heavy, and --help should be instant.
    const { snapshotBaseline, writeAtomically } = await import('../commands/check.js');
    const problems = new Problems();
    const options = await parseRunOptions(flags, io, problems);
    if (flags.shard !== undefined) {
      problems.add(
        '--shard: a baseline covers every turn of the run: write each shard with "ctxbench compare --shard i/n --format json", ' +
          'join them with "ctxbench merge", then "ctxbench snapshot --report merged.json"',
      );
    }
    problems.done();
    const result = await withRunHooks(io, 'cancelling the statement in flight and rolling back; no baseline is written', (hooks) =>
      snapshotBaseline({ ...options.compare, ...hooks }),
    );
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
