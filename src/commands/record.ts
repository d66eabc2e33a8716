/**
 * `ctxbench record` and `ctxbench proxy` as library functions: run a program (or serve until
 * stopped) behind the recording proxy and return the recording as a report. The recording
 * itself — units, markers, literals, the prompt log — is `core/recording-report.ts`; the
 * upstream URL is `core/net/upstream-url.ts`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DatabaseError, UsageError } from '../core/errors.js';
import { startDelayProxy, type DelayProxy } from '../core/net/delay-proxy.js';
import { startWireProxy, type WireProxy } from '../core/net/wire-proxy.js';
import { connectTimeoutOf, libpqIdentity, proxiedUrl, upstreamOf, upstreamTlsOf } from '../core/net/upstream-url.js';
import { StatementLog, readPromptLog, recordingReport, type RecordingInfo, type RecordingReportOptions } from '../core/recording-report.js';
import { runProgram } from '../core/run-program.js';
import type { Report } from '../report/model.js';

export {
  startWireProxy,
  type ProxiedConnection,
  type ProxiedStatement,
  type ProxyRecording,
  type UpstreamSslMode,
  type UpstreamTls,
  type WireProxy,
  type WireProxyOptions,
} from '../core/net/wire-proxy.js';
export * from '../core/recording-report.js';
export * from '../core/net/upstream-url.js';

/** Options of {@link record}. */
export interface RecordOptions extends RecordingReportOptions {
  upstreamUrl: string;
  /** The largest client message the proxy accepts (default 64 MiB; see {@link WireProxyOptions.maxMessageBytes}). */
  maxMessageBytes?: number;
  /** The command and its arguments. */
  command: string[];
  /** Base environment of the command (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** How the command's output is wired (default inherit). */
  stdio?: 'inherit' | 'pipe' | 'ignore';
  /** Where the program's prompt log goes (default: a new file in a temporary folder, removed after). */
  promptLogFile?: string;
  /**
   * Round-trip time to add between the proxy and the database, milliseconds (through a delaying
   * loopback proxy): the program runs, and is measured, at that distance.
   */
  rttMs?: number;
  /**
   * Aborting (Ctrl-C) passes the signal named by its reason (default SIGTERM) to the command,
   * waits for it to exit (`killAfterMs`, default 10 000, then SIGKILL) and reports what was
   * recorded, marked `interrupted`.
   */
  signal?: AbortSignal;
  killAfterMs?: number;
}

/** What {@link record} returns. */
export interface RecordResult {
  report: Report & { recording: RecordingInfo };
  /** The command's exit code (128 + signal number when killed by a signal). */
  exitCode: number;
  /** True when `signal` aborted the recording. */
  interrupted: boolean;
  /** Its output, when stdio is `pipe`. */
  stdout: string;
  stderr: string;
  /** One line per malformed prompt-log line or label without a unit; the recording is still complete. */
  promptLogProblems: string[];
}

/**
 * Runs a command against a recording proxy (DATABASE_URL, PGHOST and PGPORT point at it) and
 * returns the report of what it sent and its exit code.
 *
 * @example
 * const { report, exitCode } = await record({ upstreamUrl: 'postgres://app@db/app', command: ['node', 'job.js'] });
 */
export async function record(options: RecordOptions): Promise<RecordResult> {
  const upstreamTls = await upstreamTlsOf(options.upstreamUrl);
  const delay = await delayTowards(options.upstreamUrl, options.rttMs);
  const upstream = delay?.target ?? upstreamOf(options.upstreamUrl);
  let tempDir: string | null = null;
  let proxy: WireProxy | null = null;
  let log: StatementLog | null = null;
  try {
    // Statements go to disk as they complete: memory stays flat however long the program runs.
    log = StatementLog.create();
    tempDir = options.promptLogFile === undefined ? await mkdtemp(path.join(os.tmpdir(), 'ctxbench-record-')) : null;
    const logFile = options.promptLogFile ?? path.join(tempDir!, 'prompts.ndjson');
    // Created empty, so the program only ever appends (and a stale file never counts).
    await writeFile(logFile, '');
    proxy = await startWireProxy({
      upstreamHost: upstream.host,
      upstreamPort: upstream.port,
      upstreamTls,
      upstreamConnectTimeoutMs: connectTimeoutOf(options.upstreamUrl),
      showContent: options.showContent,
      maxMessageBytes: options.maxMessageBytes,
      onStatements: (batch) => log!.add(batch),
    });
    const base = options.env ?? process.env;
    const env: NodeJS.ProcessEnv = {
      ...base,
      DATABASE_URL: proxiedUrl(options.upstreamUrl, proxy.port),
      PGHOST: '127.0.0.1',
      PGPORT: String(proxy.port),
      // So a program that connects without naming them (psql with no -d) lands where the URL
      // says, not in a database named after the OS user. Never the password: the URL has it.
      ...libpqIdentity(options.upstreamUrl),
    };
    // The proxy's client side is plaintext: libpq's default (prefer) would ask it for TLS first and
    // be told N; disable skips that round trip. The user's own choice wins.
    env.PGSSLMODE ??= 'disable';
    // The prompt log: the program appends a line per turn (see core/prompt-log.ts).
    env.CTXBENCH_RECORDING = '1';
    env.CTXBENCH_PROMPT_LOG = logFile;
    const [file, ...args] = options.command;
    if (file === undefined) throw new UsageError('record: give the command to run after --, e.g. ctxbench record -- node app.js');
    const { exitCode, stdout, stderr } = await runProgram(file, args, env, options.stdio ?? 'inherit', options);
    await settle(proxy);
    const recording = { ...proxy.recording(), statements: log };
    const report = await recordingReport(recording, { ...options, promptLog: await readPromptLog(logFile, 'prompt log') });
    if (delay !== null) report.recording.rttMs = options.rttMs!;
    const interrupted = options.signal?.aborted ?? false;
    if (interrupted) report.interrupted = true;
    return { report, exitCode, stdout, stderr, interrupted, promptLogProblems: report.recording.promptLog?.problems ?? [] };
  } finally {
    await proxy?.close();
    await delay?.proxy.close();
    log?.dispose();
    if (tempDir !== null) await rm(tempDir, { recursive: true, force: true });
  }
}

/**
 * With an RTT to add: a delaying loopback proxy in front of the database, which the recording
 * proxy then forwards to (TLS still names the database's host: the delay only holds bytes back).
 */
async function delayTowards(upstreamUrl: string, rttMs: number | undefined): Promise<{ proxy: DelayProxy; target: { host: string; port: number } } | null> {
  if (rttMs === undefined || rttMs <= 0) return null;
  const real = upstreamOf(upstreamUrl);
  const proxy = await startDelayProxy({ upstreamHost: real.host, upstreamPort: real.port, rttMs });
  return { proxy, target: { host: '127.0.0.1', port: proxy.port } };
}

/** Waits (briefly) for the command's connections to finish passing through the proxy. */
async function settle(proxy: WireProxy, timeoutMs = 2000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (proxy.openConnections > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
}

/** Options of {@link serveProxy}. */
export interface ServeProxyOptions extends RecordingReportOptions {
  upstreamUrl: string;
  /** The largest client message the proxy accepts (default 64 MiB; see {@link WireProxyOptions.maxMessageBytes}). */
  maxMessageBytes?: number;
  listenHost?: string;
  listenPort?: number;
  /** Stops the proxy when aborted (the CLI aborts on SIGINT/SIGTERM). */
  signal: AbortSignal;
  /** Called once listening. */
  onListening?: (proxy: WireProxy) => void;
  /** A prompt log the program writes (created empty at start, read at stop). */
  promptLogFile?: string;
  /** Round-trip time to add between the proxy and the database, milliseconds (see {@link RecordOptions.rttMs}). */
  rttMs?: number;
}

/**
 * Runs a recording proxy until `signal` aborts, then returns the report of what it saw.
 *
 * @example
 * const stop = new AbortController();
 * const pending = serveProxy({ upstreamUrl: url, listenPort: 6432, signal: stop.signal });
 * // … later: stop.abort(); const report = await pending;
 */
export async function serveProxy(options: ServeProxyOptions): Promise<Report & { recording: RecordingInfo }> {
  const delay = await delayTowards(options.upstreamUrl, options.rttMs);
  const upstream = delay?.target ?? upstreamOf(options.upstreamUrl);
  if (options.promptLogFile !== undefined) {
    try {
      await writeFile(options.promptLogFile, '');
    } catch (error) {
      throw new UsageError(`--prompt-log: cannot create ${options.promptLogFile}: ${(error as Error).message}`);
    }
  }
  const upstreamTls = await upstreamTlsOf(options.upstreamUrl);
  let proxy: WireProxy;
  const log = StatementLog.create();
  try {
    proxy = await startWireProxy({
      upstreamHost: upstream.host,
      upstreamPort: upstream.port,
      upstreamTls,
      upstreamConnectTimeoutMs: connectTimeoutOf(options.upstreamUrl),
      listenHost: options.listenHost,
      listenPort: options.listenPort,
      showContent: options.showContent,
      maxMessageBytes: options.maxMessageBytes,
      onStatements: (batch) => log.add(batch),
    });
  } catch (error) {
    log.dispose();
    await delay?.proxy.close();
    const where = `${options.listenHost ?? '127.0.0.1'}:${options.listenPort ?? 0}`;
    const code = (error as { code?: string }).code;
    // A port in use or not ours to take, an address not on this machine: fix --listen (exit 2).
    if (code === 'EADDRINUSE') throw new UsageError(`--listen: ${where} is already in use: choose another port`, { cause: error });
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      throw new UsageError(`--listen: cannot listen on ${where}: ${(error as Error).message}`, { cause: error });
    throw new DatabaseError(`proxy: cannot listen on ${where}: ${(error as Error).message}`);
  }
  try {
    options.onListening?.(proxy);
    if (!options.signal.aborted) {
      await new Promise<void>((resolve) => options.signal.addEventListener('abort', () => resolve(), { once: true }));
    }
    const recording = { ...proxy.recording(), statements: log };
    const promptLog = options.promptLogFile === undefined ? null : await readPromptLog(options.promptLogFile);
    const report = await recordingReport(recording, { ...options, promptLog });
    if (delay !== null) report.recording.rttMs = options.rttMs!;
    return report;
  } finally {
    await proxy.close();
    await delay?.proxy.close();
    log.dispose();
  }
}
