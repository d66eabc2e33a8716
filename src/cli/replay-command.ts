/**
 * `ctxbench replay` — every statement of one strategy over one conversation.
 */
import type { Command } from 'commander';
import { loadStrategies } from '../core/strategies/load-strategy.js';
import { renderStatementsNdjson, renderStatementsTable } from '../report/statements.js';
import { useColor, type CliIo } from './io.js';
import { Problems, checkScale, databaseUrl, parseChoice, parseWholeNumber } from './options.js';
import { createProgress } from './progress.js';

const FORMATS = ['table', 'ndjson'] as const;

interface ReplayFlags {
  db?: string;
  strategy: string;
  conversation?: string;
  scale?: string;
  seed?: string;
  format: string;
}

export function registerReplay(program: Command, io: CliIo): void {
  program
    .command('replay')
    .description('print every statement one strategy sends for one conversation, with its rows and bytes')
    .option('--strategy <name>', 'the strategy to replay: a built-in name or a strategy file', 'naive')
    .option('--conversation <id>', 'conversation id (default: the first fixture conversation)')
    .option('--db <url>', 'PostgreSQL URL (default: $DATABASE_URL, else the embedded database)')
    .option('--scale <scale>', 'embedded dataset scale')
    .option('--seed <n>', 'embedded dataset seed')
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .action(async (flags: ReplayFlags) => {
      // Loaded on use: the database stack is heavy, and --help should be instant.
      const { replay } = await import('../commands/replay.js');
      const problems = new Problems();
      const url = databaseUrl(problems, flags.db, io);
      const seed = parseWholeNumber(problems, '--seed', flags.seed, 0);
      const format = parseChoice(problems, '--format', flags.format, FORMATS);
      checkScale(problems, flags.scale);
      let strategy;
      try {
        strategy = (await loadStrategies([flags.strategy]))[0];
      } catch (error) {
        for (const p of (error as { problems?: string[] }).problems ?? [String(error)])
          problems.add(p.replace('--strategies', '--strategy'));
      }
      problems.done();
      const progress = createProgress(io);
      let result;
      try {
        result = await replay({
          url,
          scale: flags.scale,
          seed,
          strategy: strategy!,
          conversation: flags.conversation,
          cacheDir: io.env.CTXBENCH_CACHE_DIR || undefined,
          onEvent: (e) => (e.kind === 'seed-progress' ? progress.onSeed(e) : progress.onEvent(e)),
        });
      } finally {
        progress.stop();
      }
      io.stdout(
        format === 'ndjson' ? renderStatementsNdjson(result.turns) : renderStatementsTable(result.turns, { color: useColor(io) }),
      );
    });
}
