/**
 * `ctxbench merge shard-*.json` — the adapter: shard reports in, the unsharded report out.
 */
import type { Command } from 'commander';
import type { Report } from '../report/model.js';
import { FORMATS, renderReport, reportFailures } from './compare-command.js';
import { UsageError } from '../core/errors.js';
import { useColor, type CliIo } from './io.js';
import { Problems, parseChoice } from './options.js';
import { checkOutput, emit } from './run-options.js';

/**
 * After a `--shard i/n` run: one line on stderr saying which part was measured and how to
 * join the parts (a shard alone is not the run's report).
 */
export function reportShard(report: Pick<Report, 'shard'>, io: CliIo, gate = true): void {
  const shard = report.shard;
  if (shard === undefined) return;
  const n = shard.positions.length;
  io.stderr(
    `ctxbench: shard ${shard.index}/${shard.count}: ${n} of ${shard.totalTurns} turn${shard.totalTurns === 1 ? '' : 's'}; ` +
      `join the shards with "ctxbench merge"${gate ? ' and gate the result with "ctxbench check --report"' : ''}\n`,
  );
}

export function registerMerge(program: Command, io: CliIo): void {
  program
    .command('merge')
    .description('join the --format json reports of a --shard i/n run into the report of the whole run')
    .argument('<files...>', 'the shard reports, one per shard (e.g. shard-*.json)')
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .option('--output <file>', 'write the report to this file instead of stdout')
    .action(async (files: string[], flags: { format: string; output?: string }) => {
      const { mergeFiles } = await import('../commands/merge.js');
      const problems = new Problems();
      const format = parseChoice(problems, '--format', flags.format, FORMATS);
      await checkOutput(problems, '--output', flags.output);
      problems.done();
      const merged = await mergeFiles(files);
      if (merged.kind === 'sweep') {
        const { renderSweepJson, renderSweepTable } = await import('../report/sweep.js');
        if (format !== 'table' && format !== 'json' && format !== 'html')
          throw new UsageError(`--format: a sweep is rendered as table, json or html, not ${format}`);
        const text =
          format === 'html'
            ? (await import('../report/html.js')).renderSweepHtml(merged.sweep)
            : format === 'json'
              ? renderSweepJson(merged.sweep)
              : renderSweepTable(merged.sweep, { color: flags.output === undefined && useColor(io) });
        await emit(text, flags.output, io);
        return;
      }
      const report = merged.report;
      await emit(await renderReport(report, format, io, flags.output !== undefined), flags.output, io);
      reportFailures(report, io);
    });
}
