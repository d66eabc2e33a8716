/**
 * The options every measuring command shares (compare, check, snapshot): which database,
 * which strategies, which turns, how often, and the budget flags. Parsed and validated in one
 * pass, every problem reported at once.
 */
import type { Command } from 'commander';
import type { CompareOptions } from '../commands/compare.js';
import { outputProblem, writeAtomically } from '../core/atomic-write.js';
import { BUDGET_METRICS, budgetFromLimits, loadBudgetFile, METRIC_FLAGS, type Budget, type Limits } from '../core/budget.js';
import { TOKENIZER_HELP } from '../core/tokens.js';
import { loadStrategies } from '../core/strategies/load-strategy.js';
import { loadTurnsFile } from '../core/turn-file.js';
import { parseShard, type ShardSpec } from '../core/shard.js';
import { parseRtts } from '../core/net/delay-proxy.js';
import type { Strategy } from '../core/types.js';
import { DEFAULT_SCALE, DEFAULT_SEED } from '../db/defaults.js';
import type { CliIo } from './io.js';
import { Problems, checkScale, databaseUrl, parseDuration, parseList, parseTokenizer, parseWholeNumber } from './options.js';
import type { Progress } from './progress.js';

export interface RunFlags {
  db?: string;
  strategies?: string;
  conversation?: string;
  turns?: string;
  setup?: string;
  baselineStrategy?: string;
  scale?: string;
  seed?: string;
  repeat: string;
  budget?: string;
  maxQueries?: string;
  maxRoundTrips?: string;
  maxBytes?: string;
  maxPayloadBytes?: string;
  maxRows?: string;
  per?: string;
  output?: string;
  rtt?: string;
  tokenizer?: string;
  maxPromptTokens?: string;
  turnTimeout: string;
  shard?: string;
}

/** Adds the shared options to a command. */
export function addRunOptions(command: Command, defaults: { strategies?: string }): Command {
  return command
    .option('--db <url>', 'PostgreSQL URL to measure (default: $DATABASE_URL, else the embedded database)')
    .option(
      '--strategies <list>',
      `comma-separated built-in names or strategy files (.ts/.js); the first is the baseline${defaults.strategies ? '' : ' (default: those of the budget file)'}`,
      defaults.strategies,
    )
    .option('--conversation <ids>', 'comma-separated conversation ids, or "all" for every conversation by id (default: the fixture conversations)')
    .option('--turns <file>', 'turns as a JSON array or NDJSON of objects handed to each strategy unchanged (for other schemas)')
    .option(
      '--setup <file>',
      'embedded only: build a fresh database from this .sql script or .ts/.js module (your own schema) instead of the reference dataset',
    )
    .option('--baseline-strategy <name>', 'the strategy others are compared with (default: the first listed)')
    .option('--scale <scale>', `embedded dataset scale: tiny, default, large or a multiplier (default: ${DEFAULT_SCALE})`)
    .option('--seed <n>', `embedded dataset seed (default: ${DEFAULT_SEED})`)
    .option('--repeat <n>', 'measured builds per turn, after one warm-up build', '1')
    .option('--budget <file>', 'a budget file (ctxbench.budget.json): limits per strategy and per section')
    .option('--max-queries <n>', 'budget: statements per turn (or per run with --per total)')
    .option('--max-round-trips <n>', 'budget: round trips per turn')
    .option('--max-bytes <n>', 'budget: wire bytes per turn')
    .option('--max-payload-bytes <n>', 'budget: payload bytes per turn')
    .option('--max-rows <n>', 'budget: rows per turn')
    .option('--max-prompt-tokens <n>', 'budget: prompt tokens per turn (counted with --tokenizer)')
    .option('--per <turn|total>', 'whether --max-* limits apply to each turn or to the whole run', 'turn')
    .option(
      '--rtt <ms>',
      'also measure latency through a loopback proxy adding this round-trip time; a list runs each (e.g. 0,1,5)',
    )
    .option('--tokenizer <name>', TOKENIZER_HELP)
    .option('--turn-timeout <duration>', 'limit of one build of one turn: a strategy over it fails (0: none)', '60s')
    .option('--shard <i/n>', 'replay only part i of n of the turns (whole conversations, balanced); join the parts with "ctxbench merge"')
    .option('--output <file>', 'write the report to this file instead of stdout');
}

/** Validated shared options. */
export interface RunOptions {
  compare: Omit<CompareOptions, 'onProgress' | 'onEvent' | 'signal'>;
  budget: Budget | null;
}

/** Parses the shared options; adds every problem to `problems` (the caller calls `done()`). */
export async function parseRunOptions(flags: RunFlags, io: CliIo, problems: Problems): Promise<RunOptions> {
  const url = databaseUrl(problems, flags.db, io);
  const repeat = parseWholeNumber(problems, '--repeat', flags.repeat, 1) ?? 1;
  const seed = parseWholeNumber(problems, '--seed', flags.seed, 0);
  checkScale(problems, flags.scale);
  if (url !== undefined && (flags.scale !== undefined || flags.seed !== undefined)) {
    problems.add(
      '--scale/--seed: only apply to the embedded database; a --db database is measured as it is (seed it with "ctxbench seed --db URL --scale …")',
    );
  }

  const budget = await parseBudgetFlags(flags, problems);

  let strategies: Strategy<any>[] = [];
  const specs = parseList(flags.strategies) ?? Object.keys(budget?.strategies ?? {});
  if (specs.length === 0) problems.add('--strategies: name the strategies to run (or give a budget file that names them)');
  else {
    try {
      strategies = await loadStrategies(specs);
    } catch (error) {
      problems.collect(error);
    }
  }
  if (budget !== null) {
    const names = new Set(strategies.map((s) => s.name));
    for (const name of Object.keys(budget.strategies)) {
      if (strategies.length > 0 && !names.has(name))
        problems.add(`${budget.source}: strategies.${name}: not among the strategies run (${[...names].join(', ')})`);
    }
  }

  const conversations = parseConversations(problems, flags.conversation);
  const shard = parseShardFlag(problems, flags.shard);
  if (shard !== undefined && flags.rtt !== undefined)
    problems.add('--shard and --rtt: latency by RTT is summarised per shard and cannot be merged; measure --rtt without --shard');
  if (flags.setup !== undefined && url !== undefined)
    problems.add('--setup: only for the embedded database; ctxbench never writes to a --db database it profiles');
  if (flags.setup !== undefined && (flags.scale !== undefined || flags.seed !== undefined))
    problems.add('--setup: --scale/--seed apply to the reference dataset, not to a --setup database');
  if (flags.setup !== undefined && flags.turns === undefined)
    problems.add('--setup: give the turns to replay on that database with --turns FILE');
  if (flags.turns !== undefined && flags.conversation !== undefined)
    problems.add('--turns and --conversation: give one or the other');
  let turns: unknown[] | undefined;
  if (flags.turns !== undefined) {
    try {
      turns = await loadTurnsFile(flags.turns);
    } catch (error) {
      problems.collect(error);
    }
  }
  if (
    flags.baselineStrategy !== undefined &&
    strategies.length > 0 &&
    !strategies.some((s) => s.name === flags.baselineStrategy)
  ) {
    problems.add(
      `--baseline-strategy: "${flags.baselineStrategy}" is not one of the strategies (${strategies.map((s) => s.name).join(', ')})`,
    );
  }
  await checkOutput(problems, '--output', flags.output);
  let rtt: number[] | undefined;
  if (flags.rtt !== undefined) {
    rtt = parseRtts(flags.rtt) ?? undefined;
    if (rtt === undefined) problems.add(`--rtt: expected milliseconds or a list of them (e.g. 2ms or 0,1,5), got "${flags.rtt}"`);
  }
  const tokenizer = parseTokenizer(problems, flags.tokenizer);
  if (tokenizer === 'none' && budgetCounts(budget, 'promptTokens'))
    problems.add('--tokenizer none: a promptTokens budget needs a tokenizer to count with');
  const turnTimeoutMs = parseDuration(problems, '--turn-timeout', flags.turnTimeout ?? '60s');
  return {
    compare: {
      tokenizer,
      rtt,
      turnTimeoutMs,
      url,
      scale: flags.scale,
      seed,
      strategies,
      conversations,
      shard,
      turns,
      setup: flags.setup,
      baseline: flags.baselineStrategy,
      repeat,
      cacheDir: io.env.CTXBENCH_CACHE_DIR || undefined,
    },
    budget,
  };
}

/** The budget of `--budget FILE` and the `--max-*` flags (`--per`), or null when none was given. */
export async function parseBudgetFlags(flags: RunFlags, problems: Problems): Promise<Budget | null> {
  const limits: Limits = {};
  for (const metric of BUDGET_METRICS) {
    const key = `max${metric[0]!.toUpperCase()}${metric.slice(1)}` as keyof RunFlags;
    const value = parseWholeNumber(problems, METRIC_FLAGS[metric], flags[key], 0);
    if (value !== undefined) limits[metric] = value;
  }
  const per = flags.per ?? 'turn';
  if (per !== 'turn' && per !== 'total') problems.add(`--per: expected turn or total, got "${per}"`);
  let budget: Budget | null = null;
  if (flags.budget !== undefined) {
    try {
      budget = await loadBudgetFile(flags.budget);
      if (Object.keys(limits).length > 0) budget.all.limits = { ...budget.all.limits, ...limits };
    } catch (error) {
      problems.collect(error);
    }
  } else if (Object.keys(limits).length > 0) {
    budget = budgetFromLimits(limits, per === 'total' ? 'total' : 'turn');
  }
  return budget;
}

/** `--conversation id,…` or `all`; adds a problem for an empty list. */
export function parseConversations(problems: Problems, raw: string | undefined): string[] | 'all' | undefined {
  const conversations = parseList(raw);
  if (raw !== undefined && conversations?.length === 0) problems.add('--conversation: name at least one conversation id');
  if (conversations?.length === 1 && conversations[0] === 'all') return 'all';
  return conversations;
}

/** `--shard i/n`: undefined when not given; a bad value is a problem naming the flag. */
export function parseShardFlag(problems: Problems, raw: string | undefined): ShardSpec | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseShard(raw);
  } catch (error) {
    problems.collect(error);
    return undefined;
  }
}

/** Whether any part of a budget limits `metric`. */
export function budgetCounts(budget: Budget | null, metric: keyof Limits): boolean {
  if (budget === null) return false;
  const parts = [budget.all, ...Object.values(budget.strategies)];
  return parts.some((p) => p.limits[metric] !== undefined || Object.values(p.sections).some((l) => l[metric] !== undefined));
}

/** Progress callbacks for compare(). */
export function progressHandlers(progress: Progress): Pick<CompareOptions, 'onEvent' | 'onProgress'> {
  return {
    onEvent: (e) => (e.kind === 'seed-progress' ? progress.onSeed(e) : progress.onEvent(e)),
    onProgress: (p) => progress.onRun(p),
  };
}

/**
 * Adds a problem when `file` (given with `flag`) cannot be written: checked with the other
 * options, so a run never fails at its last step for want of a directory.
 */
export async function checkOutput(problems: Problems, flag: string, file: string | undefined): Promise<void> {
  if (file === undefined) return;
  const problem = await outputProblem(file, flag);
  if (problem !== undefined) problems.add(problem);
}

/** The most connections `--concurrency` opens: more only adds load on the server being diagnosed. */
export const MAX_CONCURRENCY = 64;

/**
 * `--concurrency N` (1 to {@link MAX_CONCURRENCY}), the turns measured at once; 1 when not given.
 * On the embedded database (no `url`) it says on stderr that one is used: PGlite runs one
 * statement at a time, so parallel connections would only queue.
 */
export function parseConcurrency(problems: Problems, raw: string | undefined, url: string | undefined, io: CliIo): number {
  const n = parseWholeNumber(problems, '--concurrency', raw, 1);
  if (n === undefined) return 1;
  if (n > MAX_CONCURRENCY) {
    problems.add(`--concurrency: at most ${MAX_CONCURRENCY} connections, got ${n}`);
    return 1;
  }
  if (n > 1 && url === undefined) {
    io.stderr(
      `ctxbench: --concurrency ${n}: the embedded database measures one turn at a time (PGlite runs one statement at a time); using 1\n`,
    );
    return 1;
  }
  return n;
}

/** Like {@link emit}, for text given in pieces (a report streamed from disk): never whole in memory. */
export async function emitChunks(chunks: AsyncIterable<string>, output: string | undefined, io: CliIo): Promise<void> {
  if (output === undefined) {
    for await (const chunk of chunks) io.stdout(chunk);
    return;
  }
  await writeAtomically(output, chunks, '--output');
}

/** Prints to stdout, or writes `--output FILE` whole (see writeAtomically: never half a file, never a replaced symlink or device). */
export async function emit(text: string, output: string | undefined, io: CliIo): Promise<void> {
  if (output === undefined) {
    io.stdout(text);
    return;
  }
  await writeAtomically(output, text, '--output');
}
