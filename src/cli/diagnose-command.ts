/**
 * `ctxbench diagnose` — a read-only diagnosis of a real database. Ctrl-C or SIGTERM cancels
 * the statement in flight, rolls back, closes the connection, prints what was measured and exits 130.
 */
import type { Command } from 'commander';
import type { Diagnosis } from '../commands/diagnose.js';
import { ExitCode } from '../core/errors.js';
import { loadStrategies } from '../core/strategies/load-strategy.js';
import { DETAILS_HELP, DETAIL_LEVELS, renderJson } from '../report/json.js';
import { renderDiagnosisText } from '../report/diagnosis.js';
import { renderMarkdown } from '../report/markdown.js';
import { renderTable } from '../report/table.js';
import { useColor, type CliIo } from './io.js';
import { Problems, parseChoice, parseDuration, parseList, parseTokenizer, parseWholeNumber, postgresUrlProblem } from './options.js';
import { INTERRUPTED, catchInterrupts } from './interrupt.js';
import { createProgress } from './progress.js';
import { checkOutput, emit, parseConcurrency, parseShardFlag } from './run-options.js';
import { reportShard } from './merge-command.js';
import { connectionUrlFromEnv } from './connection.js';
import { TOKENIZER_HELP } from '../core/tokens.js';

const FORMATS = ['table', 'json', 'markdown', 'html'] as const;

interface DiagnoseFlags {
  db?: string;
  strategies: string;
  conversation?: string;
  recent?: string;
  tenant?: string;
  turns?: string;
  repeat: string;
  showContent?: boolean;
  explain?: boolean;
  explainAnalyze?: boolean;
  statementTimeout: string;
  turnTimeout: string;
  connectTimeout: string;
  format: string;
  output?: string;
  tokenizer?: string;
  whatIf?: boolean;
  shard?: string;
  concurrency?: string;
  details: string;
}

export function registerDiagnose(program: Command, io: CliIo): void {
  program
    .command('diagnose')
    .description('read-only diagnosis of a real database: replay its own conversations with every strategy')
    .option(
      '--db <url>',
      'PostgreSQL URL (default: $DATABASE_URL, else the PG* variables: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT)',
    )
    .option('--strategies <list>', 'built-in names or strategy files', 'naive,optimized,batched')
    .option('--conversation <ids>', 'comma-separated conversation ids to replay')
    .option('--recent <n>', 'replay the N most recently updated conversations of --tenant')
    .option('--tenant <id>', 'the tenant (users.id) for --recent')
    .option('--turns <last:N>', 'replay only the last N customer messages of each conversation (e.g. last:3)')
    .option('--repeat <n>', 'measured builds per turn, after one warm-up build', '1')
    .option('--show-content', 'show SQL parameters and prompt differences (hidden by default: this is customer data)')
    .option('--explain', 'EXPLAIN (FORMAT JSON) each distinct statement once; flags sequential scans and missing indexes')
    .option(
      '--explain-analyze',
      'like --explain but EXPLAIN ANALYZE: executes each statement once more (still read-only) to time it',
    )
    .option(
      '--what-if',
      "measure the fix of each N+1 group and SELECT * with unused columns: runs the rewrites once per turn, read-only, never counted (extra statements on the server)",
    )
    .option('--statement-timeout <duration>', 'server-side limit per statement', '5s')
    .option('--connect-timeout <duration>', 'give up connecting after this long', '10s')
    .option('--turn-timeout <duration>', 'limit of one build of one turn: a strategy over it fails (0: none)', '60s')
    .option('--format <format>', `output format: ${FORMATS.join(', ')}`, 'table')
    .option('--tokenizer <name>', TOKENIZER_HELP)
    .option('--output <file>', 'write the report to this file instead of stdout')
    .option('--shard <i/n>', 'replay only part i of n of the turns (whole conversations, balanced); join the parts with "ctxbench merge"')
    .option('--concurrency <n>', 'turns measured at once, each on its own connection (same exact figures)', '1')
    .option('--details <level>', DETAILS_HELP, 'all')
    .action(async (flags: DiagnoseFlags) => {
      // Loaded on use: the database stack is heavy, and --help should be instant.
      const { diagnose } = await import('../commands/diagnose.js');
      const problems = new Problems();
      const url = flags.db ?? (io.env.DATABASE_URL || undefined) ?? connectionUrlFromEnv(io.env);
      if (url === undefined) problems.add('diagnose: which database? Give --db URL, or set DATABASE_URL or PGHOST/PGDATABASE');
      else if (postgresUrlProblem(url) !== null) problems.add(`--db: ${postgresUrlProblem(url)}`);
      const repeat = parseWholeNumber(problems, '--repeat', flags.repeat, 1) ?? 1;
      const recent = parseWholeNumber(problems, '--recent', flags.recent, 1);
      const format = parseChoice(problems, '--format', flags.format, FORMATS);
      const statementTimeoutMs = parseDuration(problems, '--statement-timeout', flags.statementTimeout);
      const connectTimeoutMs = parseDuration(problems, '--connect-timeout', flags.connectTimeout);
      const tokenizer = parseTokenizer(problems, flags.tokenizer);
      const turnTimeoutMs = parseDuration(problems, '--turn-timeout', flags.turnTimeout);
      const concurrency = parseConcurrency(problems, flags.concurrency, url ?? '', io);
      const details = parseChoice(problems, '--details', flags.details ?? 'all', DETAIL_LEVELS);
      const conversations = parseList(flags.conversation);
      if (conversations === undefined && (recent === undefined || flags.tenant === undefined)) {
        problems.add('diagnose: name the conversations with --conversation ID[,ID…], or use --recent N with --tenant ID');
      }
      if (conversations !== undefined && recent !== undefined) problems.add('--conversation and --recent: give one or the other');
      let lastTurns: number | undefined;
      if (flags.turns !== undefined) {
        const m = /^last:(\d+)$/.exec(flags.turns);
        if (!m || Number(m[1]) < 1) problems.add(`--turns: expected last:N with N ≥ 1, got "${flags.turns}"`);
        else lastTurns = Number(m[1]);
      }
      if (flags.explain && flags.explainAnalyze) problems.add('--explain and --explain-analyze: give one');
      const shard = parseShardFlag(problems, flags.shard);
      let strategies: Awaited<ReturnType<typeof loadStrategies>> = [];
      try {
        strategies = await loadStrategies(parseList(flags.strategies) ?? []);
      } catch (error) {
        problems.collect(error);
      }
      await checkOutput(problems, '--output', flags.output);
      problems.done();

      const interruption = catchInterrupts(
        io,
        'cancelling the statement in flight, rolling back, then printing what was measured',
      );
      const progress = createProgress(io);
      let result: Diagnosis;
      try {
        result = await diagnose({
          url: url!,
          strategies,
          conversations,
          recent,
          tenant: flags.tenant,
          lastTurns,
          shard,
          repeat,
          showContent: flags.showContent,
          explain: flags.explainAnalyze ? 'analyze' : flags.explain ? 'plan' : undefined,
          whatIf: flags.whatIf === true,
          statementTimeoutMs,
          connectTimeoutMs,
          tokenizer,
          turnTimeoutMs,
          concurrency,
          onProgress: (p) => progress.onRun(p),
          signal: interruption.signal,
        });
      } finally {
        progress.stop();
        interruption.dispose();
      }
      const text =
        format === 'html'
          ? (await import('../report/html.js')).renderHtml(result)
          : format === 'json'
          ? renderJson(result, { details })
          : format === 'markdown'
            ? renderMarkdown(result)
            : `${renderTable(result, { color: flags.output === undefined && useColor(io) })}${renderDiagnosisText(result)}`;
      await emit(text, flags.output, io);
      reportShard(result, io);
      if (result.diagnosis.interrupted) {
        process.exitCode = INTERRUPTED;
        return;
      }
      if (!result.contextIdentical) {
        io.stderr(
          `ctxbench: context differs from ${result.baseline}'s for: ${result.strategies
            .filter((s) => !s.contextIdentical)
            .map((s) => s.name)
            .join(', ')}\n`,
        );
        process.exitCode = ExitCode.failed;
      }
    });
}
