/**
 * `ctxbench proxy` (a recording proxy until SIGINT/SIGTERM) and `ctxbench record -- <command>`
 * (run one command through it): flags in, recording report out, exit code set.
 */
import type { Command } from 'commander';
import { parseRtts } from '../core/net/delay-proxy.js';
import { connectTimeoutOf, record, serveProxy, sslModeOf, type RecordingInfo } from '../commands/record.js';
import { budgetFromLimits, METRIC_FLAGS, METRICS, type Budget, type Limits } from '../core/budget.js';
import { ExitCode, maskSecrets, maskUrl } from '../core/errors.js';
import type { Report } from '../report/model.js';
import { DETAILS_HELP, DETAIL_LEVELS, renderJsonChunks, type DetailLevel } from '../report/json.js';
import { TurnDetailSpill } from '../core/detail-spill.js';
import type { RecordedTurn } from '../core/recording-report.js';
import { FORMATS, renderReport, reportFailures } from './compare-command.js';
import type { CliIo } from './io.js';
import { Problems, parseChoice, parseTokenizer, parseWholeNumber, postgresUrlProblem } from './options.js';
import { checkOutput, emitChunks } from './run-options.js';
import { INTERRUPTED, catchInterrupts } from './interrupt.js';
import { TOKENIZER_HELP } from '../core/tokens.js';

interface RecordingFlags {
  upstream?: string;
  output?: string;
  name: string;
  format: string;
  maxQueries?: string;
  maxRoundTrips?: string;
  maxBytes?: string;
  maxPayloadBytes?: string;
  maxRows?: string;
  per: string;
  showContent?: boolean;
  maxMessageBytes?: string;
  tokenizer?: string;
  rtt?: string;
  details: string;
}

interface ProxyFlags extends RecordingFlags {
  listen: string;
  promptLog?: string;
}

/** Adds what both commands share: upstream, output, report format and budget flags. */
function addRecordingOptions(command: Command): Command {
  return command
    .option(
      '--upstream <url>',
      'the PostgreSQL server to forward to (default: $DATABASE_URL); its sslmode, sslrootcert and connect_timeout apply',
    )
    .option('--output <file>', 'also write the recording (a JSON report) to this file')
    .option('--name <name>', 'the strategy name the recording gets in the report', 'recording')
    .option('--format <format>', `report format on stdout: ${FORMATS.join(', ')}`, 'table')
    .option('--max-queries <n>', 'budget: statements per unit of work (or per run with --per total)')
    .option('--max-round-trips <n>', 'budget: round trips per unit')
    .option('--max-bytes <n>', 'budget: wire bytes per unit')
    .option('--max-payload-bytes <n>', 'budget: payload bytes per unit')
    .option('--max-rows <n>', 'budget: rows per unit')
    .option('--per <turn|total>', 'whether --max-* limits apply to each unit or to the whole recording', 'turn')
    .option(
      '--max-message-bytes <n>',
      'refuse a client message larger than this (SQLSTATE 54000, connection closed), e.g. 1048576 or 16MiB (default 64MiB)',
    )
    .option(
      '--show-content',
      "keep SQL literals, parameter values and logged prompt text in the report (by default literals and values are keyed hashes and prompts only their hash: it is the program's data)",
    )
    .option('--tokenizer <name>', TOKENIZER_HELP)
    .option('--rtt <ms>', 'add this round-trip time between the proxy and the database: the program runs, and is measured, at that distance')
    .option('--details <level>', DETAILS_HELP, 'all');
}

function parseRecordingFlags(flags: RecordingFlags, io: CliIo, problems: Problems) {
  const upstreamUrl = flags.upstream ?? (io.env.DATABASE_URL || undefined);
  if (upstreamUrl === undefined)
    problems.add('--upstream: give the server to forward to (a postgres:// URL), or set DATABASE_URL');
  else if (!/^postgres(ql)?:\/\//i.test(upstreamUrl))
    problems.add(`--upstream: expected a postgres:// or postgresql:// URL, got "${maskUrl(upstreamUrl)}"`);
  else if (postgresUrlProblem(upstreamUrl) !== null) problems.add(`--upstream: ${postgresUrlProblem(upstreamUrl)}`);
  else {
    for (const check of [sslModeOf, connectTimeoutOf]) {
      try {
        check(upstreamUrl);
      } catch (error) {
        problems.collect(error);
      }
    }
  }
  const format = parseChoice(problems, '--format', flags.format, FORMATS);
  const details = parseChoice(problems, '--details', flags.details ?? 'all', DETAIL_LEVELS);
  const per = parseChoice(problems, '--per', flags.per, ['turn', 'total'] as const);
  const limits: Limits = {};
  for (const metric of METRICS) {
    const flag = METRIC_FLAGS[metric];
    const key = `max${metric[0]!.toUpperCase()}${metric.slice(1)}` as keyof RecordingFlags;
    const value = parseWholeNumber(problems, flag, flags[key] as string | undefined, 0);
    if (value !== undefined) limits[metric] = value;
  }
  const budget: Budget | null = Object.keys(limits).length > 0 ? budgetFromLimits(limits, per) : null;
  const maxMessageBytes = parseByteSize(problems, '--max-message-bytes', flags.maxMessageBytes);
  const tokenizer = parseTokenizer(problems, flags.tokenizer);
  let rttMs: number | undefined;
  if (flags.rtt !== undefined) {
    const rtts = parseRtts(flags.rtt);
    if (rtts === null || rtts.length !== 1) problems.add(`--rtt: expected one round-trip time in milliseconds (e.g. 25 or 25ms), got "${flags.rtt}"`);
    else rttMs = rtts[0];
  }
  // What record and proxy both hand to the recording.
  const recording = {
    upstreamUrl: upstreamUrl ?? '',
    name: flags.name,
    budget,
    showContent: flags.showContent === true,
    maxMessageBytes,
    tokenizer,
    rttMs,
  };
  return { format, details, recording };
}

/**
 * Where the units' details go while the report is built. Kept in the report where something
 * reads them all (a budget names the statements of any unit, the HTML charts every unit);
 * otherwise each goes to a spill on disk when a JSON report will list it, else nowhere: the
 * report keeps only what its table shows, so a long recording's memory stays flat.
 *
 * @example
 * const sink = detailSink(options, flags.output);
 * try { … record({ ...options.recording, onTurnDetail: sink.onTurnDetail }) … } finally { sink.dispose(); }
 */
function detailSink(
  options: { format: (typeof FORMATS)[number]; details: DetailLevel; recording: { budget: Budget | null } },
  output: string | undefined,
): { onTurnDetail?: (detail: RecordedTurn) => void; spill: TurnDetailSpill | null; dispose(): void } {
  if (options.recording.budget !== null || options.format === 'html') return { spill: null, dispose: () => undefined };
  const json = options.format === 'json' || output !== undefined;
  if (!json || options.details === 'none') return { onTurnDetail: () => undefined, spill: null, dispose: () => undefined };
  const spill = TurnDetailSpill.create(1, { statements: options.details === 'all' });
  return { onTurnDetail: (d) => spill.add(0, d), spill, dispose: () => spill.dispose() };
}

const BYTE_SUFFIXES: Record<string, number> = { '': 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1000, mb: 1000 ** 2, gb: 1000 ** 3 };
/** Below this, ordinary statements would be refused. */
const MIN_MESSAGE_BYTES = 1024;

/** A size in bytes: a whole number, optionally with kB/MB/GB or KiB/MiB/GiB. */
function parseByteSize(problems: Problems, flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = m ? BYTE_SUFFIXES[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < MIN_MESSAGE_BYTES) {
    problems.add(`${flag}: expected a size of at least ${MIN_MESSAGE_BYTES} bytes (e.g. 1048576, 16MiB), got "${raw}"`);
    return undefined;
  }
  return bytes;
}

/** `1 connection`, `2 connections`. */
function connectionsWord(n: number): string {
  return `${n} connection${n === 1 ? '' : 's'}`;
}

/** Writes the recording, prints the report, warns about what could not be measured. */
async function finish(
  report: Report & { recording: RecordingInfo },
  flags: RecordingFlags,
  options: { format: (typeof FORMATS)[number]; details: DetailLevel },
  spill: TurnDetailSpill | null,
  io: CliIo,
): Promise<void> {
  // JSON in pieces, the details read back from disk when they were spilled: a long recording's
  // text would otherwise be one string of hundreds of MB.
  const json = (): AsyncGenerator<string> =>
    renderJsonChunks(report, spill === null ? undefined : () => spill.read(0), { details: options.details });
  if (flags.output !== undefined) {
    await emitChunks(json(), flags.output, io);
    io.stderr(`ctxbench: wrote the recording to ${flags.output}\n`);
  }
  if (options.format === 'json') await emitChunks(json(), undefined, io);
  else io.stdout(await renderReport(report, options.format, io, false));
  const connections = report.recording.connections;
  const failed = connections.filter((c) => c.upstreamError !== null);
  if (failed.length > 0) {
    const first = maskSecrets(failed[0]!.upstreamError!);
    io.stderr(`ctxbench: ${connectionsWord(failed.length)} could not reach the upstream (${first})\n`);
  }
  // Reached, then ended by the server (FATAL, pg_terminate_backend): not a failure to reach it.
  const ended = connections.filter((c) => c.upstreamError === null && c.terminated !== null);
  if (ended.length > 0) {
    io.stderr(`ctxbench: the server ended ${ended.length === 1 ? 'a session' : `${ended.length} sessions`} (${maskSecrets(ended[0]!.terminated!)})\n`);
  }
  const untracked = connections.filter((c) => c.trackingError !== null);
  if (untracked.length > 0) {
    const bytes = untracked.reduce((n, c) => n + c.untrackedBytes, 0);
    io.stderr(
      `ctxbench: warning: ${connectionsWord(untracked.length)} only partly measured: the proxy could not read the protocol ` +
        `(${untracked[0]!.trackingError}); ${bytes} client bytes after that are missing from the report\n`,
    );
  }
  const refused = connections.filter((c) => c.refusedMessageBytes !== null);
  if (refused.length > 0) {
    io.stderr(
      `ctxbench: ${connectionsWord(refused.length)} closed for sending a message over --max-message-bytes (${refused[0]!.refusedMessageBytes} bytes)\n`,
    );
  }
  reportFailures(report, io);
}

/** Prints each prompt-log problem on its own line; true when there was any. */
function promptLogProblems(problems: readonly string[] | undefined, io: CliIo): boolean {
  for (const p of problems ?? []) io.stderr(`ctxbench: ${p}\n`);
  return (problems ?? []).length > 0;
}

export function registerProxy(program: Command, io: CliIo): void {
  addRecordingOptions(
    program
      .command('proxy')
      .description(
        'run a recording PostgreSQL proxy until Ctrl-C (SIGINT/SIGTERM), then report every statement that went through it',
      ),
  )
    .option('--listen <host:port>', 'where the proxy listens', '127.0.0.1:6432')
    .option(
      '--prompt-log <file>',
      'a prompt log for the program (run it with CTXBENCH_RECORDING=1 CTXBENCH_PROMPT_LOG=<file>): created empty, read when stopped',
    )
    .action(async (flags: ProxyFlags) => {
      const problems = new Problems();
      const options = parseRecordingFlags(flags, io, problems);
      const listen = /^(.*):(\d+)$/.exec(flags.listen);
      if (!listen || Number(listen[2]) > 65535)
        problems.add(`--listen: expected host:port, e.g. 127.0.0.1:6432, got "${flags.listen}"`);
      await checkOutput(problems, '--output', flags.output);
      if (flags.promptLog !== undefined) await checkOutput(problems, '--prompt-log', flags.promptLog);
      problems.done();
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const sink = detailSink(options, flags.output);
      try {
        const report = await serveProxy({
          ...options.recording,
          onTurnDetail: sink.onTurnDetail,
          listenHost: listen![1]!.replace(/^\[(.*)\]$/, '$1'),
          listenPort: Number(listen![2]),
          promptLogFile: flags.promptLog,
          signal: stop.signal,
          onListening: (proxy) => {
            io.stderr(
              `ctxbench: proxying ${proxy.host}:${proxy.port} → ${maskUrl(options.recording.upstreamUrl)}; Ctrl-C to stop and report\n`,
            );
            if (flags.promptLog !== undefined)
              io.stderr(`ctxbench: run the program with CTXBENCH_RECORDING=1 CTXBENCH_PROMPT_LOG=${flags.promptLog}\n`);
          },
        });
        await finish(report, flags, options, sink.spill, io);
        if (promptLogProblems(report.recording.promptLog?.problems, io) && process.exitCode === undefined)
          process.exitCode = ExitCode.usage;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        sink.dispose();
      }
    });
}

export function registerRecord(program: Command, io: CliIo): void {
  addRecordingOptions(
    program
      .command('record')
      .description(
        'run a command with DATABASE_URL/PGHOST/PGPORT (and PGUSER/PGDATABASE from the URL) pointing at a recording proxy, report its statements, exit with its exit code',
      )
      .argument('[command...]', 'the command to run, after --'),
  ).action(async (command: string[], flags: RecordingFlags) => {
    const problems = new Problems();
    const options = parseRecordingFlags(flags, io, problems);
    if (command.length === 0) problems.add('record: give the command to run after --, e.g. ctxbench record -- node app.js');
    await checkOutput(problems, '--output', flags.output);
    problems.done();
    if (options.format !== 'table' && flags.output === undefined) {
      // The program writes to the same stdout: a redirected report would hold its output too.
      io.stderr(
        `ctxbench: the program's own output and the ${options.format} report both go to stdout; use --output FILE for a report file of its own\n`,
      );
    }
    const interruption = catchInterrupts(
      io,
      'passing the signal to the program, waiting for it to exit (up to 10 s), then reporting what was recorded',
    );
    const sink = detailSink(options, flags.output);
    let result;
    try {
      try {
        result = await record({
          ...options.recording,
          onTurnDetail: sink.onTurnDetail,
          command,
          env: { ...process.env, ...io.env },
          signal: interruption.signal,
        });
      } finally {
        interruption.dispose();
      }
      await finish(result.report, flags, options, sink.spill, io);
    } finally {
      sink.dispose();
    }
    const badLog = promptLogProblems(result.promptLogProblems, io);
    if (result.interrupted) {
      io.stderr('ctxbench: interrupted: the report covers what the program sent until it exited\n');
      process.exitCode = INTERRUPTED;
      return;
    }
    // The command's own exit code wins; a budget failure, then a malformed prompt log, only show
    // when the command succeeded.
    if (result.exitCode !== 0) process.exitCode = result.exitCode;
    else if (process.exitCode === undefined) process.exitCode = badLog ? ExitCode.usage : ExitCode.ok;
  });
}

/**
 * Registers `proxy` and `record` (one call, so the program lists them with one line).
 *
 * @example
 * registerProxyCommands(program, io);
 */
export function registerProxyCommands(program: Command, io: CliIo): void {
  registerProxy(program, io);
  registerRecord(program, io);
}
