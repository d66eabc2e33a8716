/**
 * `ctxbench compare` — the adapter: flags in, report out, exit code set.
 */
import type { Command } from 'commander';
import { compare } from '../commands/compare.js';
import { ExitCode } from '../core/errors.js';
import { DEFAULT_STRATEGIES } from '../core/strategies/index.js';
import { loadStrategies } from '../core/strategies/load-strategy.js';
import { loadTurnsFile } from '../core/turn-file.js';
import type { Strategy } from '../core/types.js';
import { DEFAULT_SCALE, DEFAULT_SEED } from '../db/open-database.js';
import { renderJson } from '../report/json.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderTable } from '../report/table.js';
import { useColor, type CliIo } from './io.js';
import { Problems, checkScale, databaseUrl, parseChoice, parseList, parseWholeNumber } from './options.js';
import { createProgress } from './progress.js';

const FORMATS = ['table', 'json', 'markdown'] as const;

interface CompareFlags {
  db?: string;
  strategies: string;
  conversation?: string;
  turns?: string;
  setup?: string;
  baselineStrategy?: string;
  scale?: string;
  seed?: string;
  repeat: string;
  format: string;
}

export function registerCompare(program: Command, io: CliIo): void {
  program
    .command('compare')
    .description('replay conversations through each strategy and compare queries, round trips, bytes, rows, latency and the prompt')
    .option('--db <url>', 'PostgreSQL URL to measure (default: $DATABASE_URL, else the embedded database)')
    .option('--strategies <list>', 'comma-separated built-in names or strategy files (.ts/.js); the first is the baseline', DEFAULT_STRATEGIES.join(','))
    .option('--conversation <ids>', 'comma-separated conversation ids (default: the fixture conversations)')
    .option('--turns <file>', 'turns as a JSON array or NDJSON of objects handed to each strategy unchanged (for other schemas)')
    .option('--setup <file>', 'embedded only: build a fresh database from this .sql script or .ts/.js module (your own schema) instead of the reference dataset')
    .option('--baseline-strategy <name>', 'the strategy others are compared with (default: the first listed)')
    .option('--scale <scale>', `embedded dataset scale: tiny, default, large or a multiplier (default: ${DEFAULT_SCALE})`)
    .option('--seed <n>', `embedded dataset seed (default: ${DEFAULT_SEED})`)
    .option('--repeat <n>', 'measured builds per turn, after one warm-up build', '1')
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .action(async (flags: CompareFlags) => {
      const problems = new Problems();
      const url = databaseUrl(problems, flags.db, io);
      const repeat = parseWholeNumber(problems, '--repeat', flags.repeat, 1) ?? 1;
      const seed = parseWholeNumber(problems, '--seed', flags.seed, 0);
      const format = parseChoice(problems, '--format', flags.format, FORMATS);
      checkScale(problems, flags.scale);
      if (url !== undefined && (flags.scale !== undefined || flags.seed !== undefined)) {
        problems.add('--scale/--seed: only apply to the embedded database; a --db database is measured as it is (seed it with "ctxbench seed --db URL --scale …")');
      }
      let strategies: Strategy[] = [];
      try {
        strategies = await loadStrategies(parseList(flags.strategies) ?? []);
      } catch (error) {
        for (const p of (error as { problems?: string[] }).problems ?? [String(error)]) problems.add(p);
      }
      const conversations = parseList(flags.conversation);
      if (flags.conversation !== undefined && conversations?.length === 0) problems.add('--conversation: name at least one conversation id');
      if (flags.setup !== undefined && url !== undefined) problems.add('--setup: only for the embedded database; ctxbench never writes to a --db database it profiles');
      if (flags.setup !== undefined && (flags.scale !== undefined || flags.seed !== undefined)) problems.add('--setup: --scale/--seed apply to the reference dataset, not to a --setup database');
      if (flags.setup !== undefined && flags.turns === undefined) problems.add('--setup: give the turns to replay on that database with --turns FILE');
      if (flags.turns !== undefined && flags.conversation !== undefined) problems.add('--turns and --conversation: give one or the other');
      let turns: unknown[] | undefined;
      if (flags.turns !== undefined) {
        try {
          turns = await loadTurnsFile(flags.turns);
        } catch (error) {
          for (const p of (error as { problems?: string[] }).problems ?? [String(error)]) problems.add(p);
        }
      }
      if (flags.baselineStrategy !== undefined && strategies.length > 0 && !strategies.some((s) => s.name === flags.baselineStrategy)) {
        problems.add(`--baseline-strategy: "${flags.baselineStrategy}" is not one of the strategies (${strategies.map((s) => s.name).join(', ')})`);
      }
      problems.done();

      const progress = createProgress(io);
      let report;
      try {
        report = await compare({
          url,
          scale: flags.scale,
          seed,
          strategies,
          conversations,
          turns,
          setup: flags.setup,
          baseline: flags.baselineStrategy,
          repeat,
          cacheDir: io.env.CTXBENCH_CACHE_DIR || undefined,
          onEvent: (e) => (e.kind === 'seed-progress' ? progress.onSeed(e) : progress.onEvent(e)),
          onProgress: (p) => progress.onRun(p),
        });
      } finally {
        progress.stop();
      }
      if (format === 'json') io.stdout(renderJson(report));
      else if (format === 'markdown') io.stdout(renderMarkdown(report));
      else io.stdout(renderTable(report, { color: useColor(io) }));
      if (!report.contextIdentical) {
        const differing = report.strategies.filter((s) => !s.contextIdentical).map((s) => s.name);
        io.stderr(`ctxbench: context differs from ${report.baseline}'s for: ${differing.join(', ')}\n`);
        process.exitCode = ExitCode.failed;
      }
    });
}
