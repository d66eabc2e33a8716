/**
 * `ctxbench sweep --scales tiny,default,large`.
 */
import type { Command } from 'commander';
import { DEFAULT_STRATEGIES } from '../core/strategies/index.js';
import { loadStrategies } from '../core/strategies/load-strategy.js';
import { renderSweepJson, renderSweepTable } from '../report/sweep.js';
import { useColor, type CliIo } from './io.js';
import { Problems, checkScale, parseChoice, parseList, parseWholeNumber } from './options.js';
import { createProgress } from './progress.js';
import { checkOutput, emit, parseConversations, parseShardFlag, progressHandlers } from './run-options.js';
import { reportShard } from './merge-command.js';

const FORMATS = ['table', 'json', 'html'] as const;

interface SweepFlags {
  scales: string;
  strategies: string;
  conversation?: string;
  seed?: string;
  format: string;
  output?: string;
  shard?: string;
}

export function registerSweep(program: Command, io: CliIo): void {
  program
    .command('sweep')
    .description('measure the same turns at several embedded dataset scales and flag every figure that grows with the data')
    .option('--scales <list>', 'comma-separated scales, smallest first (presets or multipliers)', 'tiny,default')
    .option('--strategies <list>', 'comma-separated built-in names or strategy files', DEFAULT_STRATEGIES.join(','))
    .option('--conversation <ids>', 'comma-separated conversation ids, or "all" (default: the fixture conversations)')
    .option('--seed <n>', 'dataset seed')
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .option('--output <file>', 'write the report to this file instead of stdout')
    .option('--shard <i/n>', 'measure only part i of n of the turns at each scale; join the parts with "ctxbench merge" (json keeps each scale\'s report)')
    .action(async (flags: SweepFlags) => {
      // Loaded on use: the database stack is heavy, and --help should be instant.
      const { sweep } = await import('../commands/sweep.js');
      const problems = new Problems();
      const scales = parseList(flags.scales) ?? [];
      if (scales.length < 2) problems.add('--scales: name at least two scales to compare, e.g. tiny,default');
      for (const scale of scales) checkScale(problems, scale);
      const seed = parseWholeNumber(problems, '--seed', flags.seed, 0);
      const format = parseChoice(problems, '--format', flags.format, FORMATS);
      let strategies: Awaited<ReturnType<typeof loadStrategies>> = [];
      try {
        strategies = await loadStrategies(parseList(flags.strategies) ?? []);
      } catch (error) {
        problems.collect(error);
      }
      await checkOutput(problems, '--output', flags.output);
      const conversations = parseConversations(problems, flags.conversation);
      const shard = parseShardFlag(problems, flags.shard);
      problems.done();
      const progress = createProgress(io);
      let result;
      try {
        result = await sweep({
          scales,
          seed,
          strategies,
          conversations,
          shard,
          cacheDir: io.env.CTXBENCH_CACHE_DIR || undefined,
          ...progressHandlers(progress),
          onScale: (scale, i, n) => {
            if (io.stderrIsTTY) io.stderr(`\r\x1b[2Kscale ${scale} (${i + 1}/${n})\n`);
          },
        });
      } finally {
        progress.stop();
      }
      const text =
        format === 'html'
          ? (await import('../report/html.js')).renderSweepHtml(result)
          : format === 'json'
          ? // A shard's rows are means over its part only: keep each scale's report for merge.
            shard !== undefined
            ? `${JSON.stringify({ version: 1, scales: result.scales, rows: result.rows, reports: result.reports }, null, 2)}\n`
            : renderSweepJson(result)
          : renderSweepTable(result, { color: flags.output === undefined && useColor(io) });
      await emit(text, flags.output, io);
      if (result.reports[0] !== undefined) reportShard(result.reports[0], io, false);
    });
}
