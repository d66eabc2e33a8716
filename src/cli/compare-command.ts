/**
 * `ctxbench compare` — the adapter: flags in, report out, exit code set.
 */
import type { Command } from 'commander';
import { checkBudget } from '../core/budget.js';
import { ExitCode, StrategyError, maskSecrets } from '../core/errors.js';
import { DEFAULT_STRATEGIES } from '../core/strategies/index.js';
import type { Report } from '../report/model.js';
import { DETAILS_HELP, DETAIL_LEVELS, renderJson, renderJsonChunks, type DetailLevel } from '../report/json.js';
import { renderJunit, renderJunitFailure } from '../report/junit.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderTable } from '../report/table.js';
import { useColor, type CliIo } from './io.js';
import { Problems, parseChoice } from './options.js';
import { reportInterrupted, withRunHooks } from './interrupt.js';
import { reportShard } from './merge-command.js';
import { addRunOptions, emit, emitChunks, parseConcurrency, parseRunOptions, type RunFlags } from './run-options.js';
import type { TurnDetailSpill } from '../core/detail-spill.js';

/** What the first Ctrl-C does to a measuring run. */
export const STOPPING = 'cancelling the statement in flight, rolling back, then printing what was measured';

export const FORMATS = ['table', 'json', 'markdown', 'junit', 'html'] as const;
export type Format = (typeof FORMATS)[number];

/** Renders a report in the chosen format (colour only for a table on a terminal). */
export async function renderReport(
  report: Report,
  format: Format,
  io: CliIo,
  toFile: boolean,
  options: { details?: DetailLevel } = {},
): Promise<string> {
  if (format === 'json') return renderJson(report, options);
  // Loaded on use: the chart library takes a while to import.
  if (format === 'html') return (await import('../report/html.js')).renderHtml(report);
  if (format === 'markdown') return renderMarkdown(report);
  if (format === 'junit') return renderJunit(report);
  return renderTable(report, { color: !toFile && useColor(io) });
}

/**
 * When the run stopped because a strategy failed, a JUnit report is still written, with that
 * failure: CI dashboards read the file, not the exit code (which stays 1).
 */
export async function emitFailure(error: unknown, format: Format, output: string | undefined, io: CliIo): Promise<void> {
  if (format === 'junit' && error instanceof StrategyError) await emit(renderJunitFailure(maskSecrets(error.message)), output, io);
}

/** Sets exit code 1 and says why on stderr when a context differs or a budget is exceeded. */
export function reportFailures(report: Report, io: CliIo): void {
  if (report.contextIdentical === false) {
    const differing = report.strategies.filter((s) => s.contextIdentical === false).map((s) => s.name);
    io.stderr(`ctxbench: context differs from ${report.baseline}'s for: ${differing.join(', ')}\n`);
    process.exitCode = ExitCode.failed;
  }
  if (report.budget && !report.budget.passed) {
    const v = report.budget.violations.length;
    const stale = report.budget.strict ? report.budget.staleSilences.length : 0;
    const parts = [
      ...(v > 0 || stale === 0 ? [`${v} budget violation${v === 1 ? '' : 's'}`] : []),
      ...(stale > 0 ? [`${stale} stale silence${stale === 1 ? '' : 's'} (--strict)`] : []),
    ];
    io.stderr(`ctxbench: ${parts.join(', ')}\n`);
    process.exitCode = ExitCode.failed;
  }
  if (report.baselineFile && !report.baselineFile.passed) {
    io.stderr(
      `ctxbench: ${report.baselineFile.regressions.length} figure${report.baselineFile.regressions.length === 1 ? '' : 's'} grew beyond the baseline ${report.baselineFile.file}\n`,
    );
    process.exitCode = ExitCode.failed;
  }
}

export function registerCompare(program: Command, io: CliIo): void {
  addRunOptions(
    program
      .command('compare')
      .description(
        'replay conversations through each strategy and compare queries, round trips, bytes, rows, latency and the prompt',
      ),
    { strategies: DEFAULT_STRATEGIES.join(',') },
  )
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .option('--before <file>', 'with --after: compare two saved reports or recordings (--format json, ctxbench record) instead of running')
    .option('--after <file>', 'the report or recording after the change')
    .option('--no-what-if', 'do not measure the fix of each N+1 group and SELECT * (extra read-only statements, never counted)')
    .option('--concurrency <n>', 'with --db: turns measured at once, each on its own connection (same exact figures)', '1')
    .option('--details <level>', DETAILS_HELP, 'all')
    .action(async (flags: RunFlags & { format: string; before?: string; after?: string; whatIf: boolean; concurrency?: string; details: string }) => {
      // Loaded on use: the database stack is heavy, and --help should be instant.
      const { compare } = await import('../commands/compare.js');
      const { applySilence } = await import('../commands/check.js');
      const problems = new Problems();
      if ((flags.before === undefined) !== (flags.after === undefined)) problems.add('--before and --after: give both files');
      const saved = flags.before !== undefined && flags.after !== undefined;
      if (saved && flags.shard !== undefined) problems.add('--shard: applies to a run, not to --before/--after files');
      const options = await parseRunOptions(saved ? { ...flags, strategies: flags.strategies ?? 'naive' } : flags, io, problems);
      const format = parseChoice(problems, '--format', flags.format, FORMATS);
      const details = parseChoice(problems, '--details', flags.details ?? 'all', DETAIL_LEVELS);
      const concurrency = saved ? 1 : parseConcurrency(problems, flags.concurrency, options.compare.url, io);
      problems.done();
      // Turn details are kept only where something reads them (a budget, the HTML charts);
      // a JSON report streams them from disk; the other formats never show them.
      const keep = saved || options.budget !== null || (format === 'html' && details !== 'none');
      const spill: TurnDetailSpill | null =
        !keep && format === 'json' && details !== 'none'
          ? (await import('../core/detail-spill.js')).TurnDetailSpill.create(options.compare.strategies.length, {
              statements: details === 'all',
            })
          : null;
      try {
        const report: Report = await withRunHooks(
          io,
          STOPPING,
          async (hooks) =>
            saved
              ? (await import('../commands/compare-recordings.js')).compareRecordings(flags.before!, flags.after!)
              : compare({
                  ...options.compare,
                  concurrency,
                  whatIf: flags.whatIf,
                  ...(keep ? {} : { onTurnDetail: spill === null ? () => undefined : (s, d) => spill.add(s, d) }),
                  ...hooks,
                }),
          (error) => emitFailure(error, format, flags.output, io),
        );
        if (options.budget !== null) {
          applySilence(report, options.budget);
          report.budget = checkBudget(report, options.budget);
        }
        if (spill !== null) await emitChunks(renderJsonChunks(report, (s) => spill.read(s), { details }), flags.output, io);
        else await emit(await renderReport(report, format, io, flags.output !== undefined, { details }), flags.output, io);
        reportShard(report, io);
        reportFailures(report, io);
        reportInterrupted(report, io);
      } finally {
        spill?.dispose();
      }
    });
}
