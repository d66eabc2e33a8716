/**
 * `ctxbench proxy` and `ctxbench record`: profile any application, in any language, through
 * the recording wire proxy. A recording becomes an ordinary ctxbench Report (one strategy,
 * one TurnDetail per unit of work), so every renderer and budget check works on it unchanged.
 */
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initFingerprinting, redactLiterals } from '../core/analysis/fingerprint.js';
import { findFindings } from '../core/analysis/findings.js';
import { checkBudget, hasLimits, type Budget } from '../core/budget.js';
import { DatabaseError, UsageError, maskUrl } from '../core/errors.js';
import {
  startWireProxy,
  type ProxiedStatement,
  type ProxyRecording,
  type UpstreamSslMode,
  type UpstreamTls,
  type WireProxy,
  type WireProxyOptions,
} from '../core/net/wire-proxy.js';
import { figuresOf, mean, meanFigures, round, sumFigures } from '../core/figures.js';
import { parsePromptLog, promptFigures, unmatchedPrompts, type PromptLog } from '../core/prompt-log.js';
import { DEFAULT_TOKENIZER, loadTokenizer, type TokenizerName } from '../core/tokens.js';
import { percentiles } from '../core/runner.js';
import { statementRecords } from '../core/recorder.js';
import type { StatementRecord } from '../core/types.js';
import { REPORT_VERSION, type Report, type StrategyReport, type TotalFigures, type TurnDetail } from '../report/model.js';
import { TOOL_VERSION } from '../version.js';

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

/** A statement of a recording, as a report shows it: the usual record plus its connection. */
export interface RecordedStatement extends StatementRecord {
  connectionId: number;
}

/** A unit of work of a recording: a TurnDetail plus what only a recording has. */
export interface RecordedTurn extends TurnDetail {
  statements: RecordedStatement[];
  /** The marker statement that opened this unit (not counted in its figures). */
  marker: RecordedStatement | null;
}

/** How statements were grouped into units. */
export type UnitMode = 'markers' | 'transactions';

/** Options of {@link recordingReport}. */
export interface RecordingReportOptions {
  /** The strategy name in the report (default `recording`). */
  name?: string;
  /** The upstream URL, shown masked. */
  upstreamUrl?: string | null;
  /** Checked when given (and not empty), like `compare --max-queries`. */
  budget?: Budget | null;
  /**
   * Keep SQL literals (and, for {@link record} and {@link serveProxy}, parameter values) as sent.
   * Off by default: they are customer data, so each literal is stored as a keyed hash
   * `'<lit:…>'` (see {@link literalHasher}).
   */
  showContent?: boolean;
  /**
   * The prompts the program logged, attached to the units with their labels: each such turn gets
   * `promptBytes`, `promptSha256` (and `promptTokens` with a tokenizer), and its text only with
   * `showContent`.
   */
  promptLog?: PromptLog | null;
  /** Counts the logged prompts' tokens (default `o200k` when prompts were logged; `none` to skip). */
  tokenizer?: TokenizerName;
}

const MARKER_SELECT = /^\s*select\s+'ctxbench:turn\s+((?:[^']|'')*)'\s*;?\s*$/i;
const MARKER_COMMENT = /\/\*\s*ctxbench_turn\s*=\s*'((?:[^'\\]|\\.)*)'\s*\*\//i;

/**
 * The unit label a statement's SQL carries, if any, and whether the statement is only a marker.
 *
 * @example
 * markerOf("SELECT 'ctxbench:turn checkout'") // { label: 'checkout', only: true }
 * markerOf("select 1 /* ctxbench_turn='a' *\/") // { label: 'a', only: false }
 */
export function markerOf(sql: string): { label: string; only: boolean } | null {
  const select = MARKER_SELECT.exec(sql);
  if (select) return { label: select[1]!.replace(/''/g, "'").trim(), only: true };
  const comment = MARKER_COMMENT.exec(sql);
  if (!comment) return null;
  let label = comment[1]!;
  try {
    // sqlcommenter URL-encodes values.
    label = decodeURIComponent(label);
  } catch {
    // Not encoded: keep it as written.
  }
  const rest = sql.replace(MARKER_COMMENT, '').replace(/[\s;]/g, '');
  return { label, only: rest.length === 0 };
}

interface Unit {
  label: string | null;
  connectionId: number;
  statements: ProxiedStatement[];
  marker: ProxiedStatement | null;
}

/**
 * Groups statements into units of work. With markers (if any statement carries one): each
 * `SELECT 'ctxbench:turn x'` starts unit x across all connections, and a comment marker starts
 * one when its label differs from the current unit's (sqlcommenter tags every statement);
 * statements before the first marker form a unit `(before first marker)`. Without markers:
 * each transaction (per connection, from the ReadyForQuery status) or lone statement is a unit.
 */
function unitsOf(statements: readonly ProxiedStatement[]): { mode: UnitMode; units: Unit[] } {
  const bySend = [...statements].sort((a, b) => a.sentAt - b.sentAt);
  const markers = bySend.map((s) => markerOf(s.sql));
  if (markers.some((m) => m !== null)) {
    const units: Unit[] = [];
    let current: Unit | null = null;
    bySend.forEach((s, i) => {
      const m = markers[i];
      if (m && (m.only || current === null || current.label !== m.label)) {
        current = { label: m.label, connectionId: s.connectionId, statements: [], marker: null };
        units.push(current);
      }
      if (current === null) {
        current = { label: null, connectionId: s.connectionId, statements: [], marker: null };
        units.push(current);
      }
      if (m?.only) current.marker ??= s;
      else current.statements.push(s);
    });
    return { mode: 'markers', units: units.filter((u) => u.statements.length > 0 || u.marker !== null) };
  }
  const units: Unit[] = [];
  const openUnits = new Map<number, Unit>();
  for (const s of bySend) {
    let unit = openUnits.get(s.connectionId);
    if (unit === undefined) {
      unit = { label: null, connectionId: s.connectionId, statements: [], marker: null };
      units.push(unit);
      openUnits.set(s.connectionId, unit);
    }
    unit.statements.push(s);
    // Idle after it (or unknown): the transaction, or the lone statement, is over.
    if (s.status === 'I' || s.status === null) openUnits.delete(s.connectionId);
  }
  return { mode: 'transactions', units };
}

/**
 * A function that replaces every literal of a statement by `'<lit:` + 12 hex digits of an
 * HMAC-SHA256 of it + `>'`, with a key of its own: within one report, equal literals hash
 * equal (so duplicates are still found, and the fingerprint is unchanged), and nothing can be
 * recovered from a hash. The label of a marker (`'ctxbench:turn …'`) is not a secret: it stays.
 *
 * @example
 * literalHasher()("select * from users where email = 'alice@example.com'")
 * // => "select * from users where email = '<lit:3f9a0c7be21d>'"
 */
export function literalHasher(): (sql: string) => string {
  const key = randomBytes(32);
  const hashed = (literal: string): string =>
    /^'ctxbench:turn\s/i.test(literal) ? literal : `'<lit:${createHmac('sha256', key).update(literal).digest('hex').slice(0, 12)}>'`;
  return (sql) => redactLiterals(sql, hashed);
}

/**
 * A unit's statements as records, numbered as the in-process recorder numbers them, with their
 * connection; fingerprinted before `hide` replaces their literals.
 */
function toRecords(statements: readonly ProxiedStatement[], hide: ((sql: string) => string) | null): RecordedStatement[] {
  return statementRecords(statements, () => null).map((r, i) => ({
    ...r,
    sql: hide === null ? r.sql : hide(r.sql),
    durationMs: round(r.durationMs, 3),
    connectionId: statements[i]!.connectionId,
  }));
}

/**
 * Turns a proxy recording into a ctxbench Report with one strategy (`recording`), one
 * TurnDetail per unit of work. Prompt fields are empty: a recording has no prompt.
 *
 * @example
 * const report = await recordingReport(proxy.recording(), { budget: budgetFromLimits({ queries: 10 }) });
 * process.stdout.write(renderTable(report, { color: false }));
 */
export async function recordingReport(
  recording: ProxyRecording,
  options: RecordingReportOptions = {},
): Promise<Report & { recording: RecordingInfo }> {
  await initFingerprinting();
  // Markers are read from the SQL as sent, before its literals are hidden.
  const { mode, units } = unitsOf(recording.statements);
  const hide = options.showContent === true ? null : literalHasher();
  const turnDetails: RecordedTurn[] = units.map((u, i) => {
    const statements = toRecords(u.statements, hide);
    const all = u.marker ? [u.marker, ...u.statements] : u.statements;
    // reduce, not Math.min(...): a long unit would overflow the argument list.
    const start = all.reduce((a, s) => Math.min(a, s.sentAt), Infinity);
    const end = all.reduce((a, s) => Math.max(a, s.doneAt), -Infinity);
    return {
      turn: u.label ?? (mode === 'markers' ? '(before first marker)' : `#${i + 1} (connection ${u.connectionId})`),
      conversationId: null,
      messageId: null,
      ...figuresOf(statements),
      promptBytes: 0,
      promptSha256: '',
      latencyMs: [round(end - start, 3)],
      contextIdentical: null,
      statements,
      // The marker is not counted: it has no place among the unit's statements or round trips.
      marker: u.marker ? { ...toRecords([u.marker], hide)[0]!, seq: 0, roundTrip: 0 } : null,
    };
  });
  const name = options.name ?? 'recording';
  const n = Math.max(1, turnDetails.length);
  const totals: TotalFigures = sumFigures(turnDetails);
  const prompts = await attachPrompts(turnDetails, options);
  if (prompts.tokens !== null) totals.promptTokens = prompts.tokens;
  const strategy: StrategyReport = {
    name,
    source: null,
    turns: turnDetails.length,
    perTurn: {
      ...meanFigures(totals, n),
      promptBytes: mean(
        turnDetails.reduce((a, t) => a + t.promptBytes, 0),
        n,
      ),
      ...(prompts.tokens === null ? {} : { promptTokens: mean(prompts.tokens, n) }),
      latencyMs: percentiles(turnDetails.flatMap((t) => t.latencyMs)),
    },
    totals,
    // One recording compares its prompts with nothing: only compare --before/--after checks them.
    contextIdentical: null,
    difference: null,
    findings: findFindings(turnDetails),
    sections: [],
    turnDetails,
  };
  const report: Report & { recording: RecordingInfo } = {
    version: REPORT_VERSION,
    tool: { name: 'ctxbench', version: TOOL_VERSION },
    database: {
      kind: 'postgres',
      serverVersion: recording.serverVersion ?? 'unknown',
      url: options.upstreamUrl ? maskUrl(options.upstreamUrl) : null,
    },
    dataset: null,
    repeat: 1,
    ...(prompts.tokens === null ? {} : { tokenizer: prompts.encoding }),
    baseline: name,
    strategies: [strategy],
    contextIdentical: null,
    recording: {
      units: mode,
      upstream: `${recording.upstream.host}:${recording.upstream.port}`,
      connections: recording.connections.map((c) => ({
        id: c.id,
        kind: c.kind,
        upstreamTls: c.upstreamTls,
        user: c.user,
        database: c.database,
        application: c.application,
        statements: c.statements,
        abandoned: c.abandoned,
        upstreamError: c.upstreamError,
        terminated: c.terminated,
        trackingError: c.trackingError,
        untrackedBytes: c.untrackedBytes,
        refusedMessageBytes: c.refusedMessageBytes,
        startupMessages: c.startupMessages,
      })),
    },
  };
  if (options.budget && hasLimits(options.budget)) report.budget = checkBudget(report, options.budget);
  return report;
}

/**
 * Puts each logged prompt on the turn with its label: its bytes, sha256 and tokens, and its text
 * only when content is shown. Returns the token total (null when nothing was counted).
 */
async function attachPrompts(
  turns: RecordedTurn[],
  options: RecordingReportOptions,
): Promise<{ tokens: number | null; encoding: string | null }> {
  const log = options.promptLog;
  if (!log || log.prompts.size === 0) return { tokens: null, encoding: null };
  const tokenizer = await loadTokenizer(options.tokenizer ?? DEFAULT_TOKENIZER);
  let tokens = 0;
  for (const t of turns) {
    const p = log.prompts.get(t.turn);
    if (p === undefined) continue;
    Object.assign(t, promptFigures(p.text));
    if (tokenizer !== null) {
      t.promptTokens = tokenizer.count(p.text);
      tokens += t.promptTokens;
    }
    if (options.showContent === true) t.prompt = p.text;
  }
  return tokenizer === null ? { tokens: null, encoding: null } : { tokens, encoding: tokenizer.encoding };
}

/** What a recording report carries beyond a Report: how units were formed and the connections seen. */
export interface RecordingInfo {
  units: UnitMode;
  /** What the program's prompt log held: the prompts logged, and every malformed line or unmatched label. */
  promptLog?: { prompts: number; problems: string[] };
  upstream: string;
  connections: {
    id: number;
    kind: string;
    /** Whether the proxy reached the upstream over TLS. */
    upstreamTls: boolean;
    user: string | null;
    database: string | null;
    application: string | null;
    /** Statements recorded (abandoned ones included). */
    statements: number;
    /** Statements left unanswered when the connection closed or measuring stopped (recorded with the reason as error). */
    abandoned: number;
    /** The upstream could not be reached (or ended the session before it started): why. */
    upstreamError: string | null;
    /** The server ended a running session the client had not left: its FATAL error, or how it closed. */
    terminated: string | null;
    /** The proxy could not read this connection's protocol and stopped measuring it: why. */
    trackingError: string | null;
    /** Client bytes forwarded unmeasured after a tracking error. */
    untrackedBytes: number;
    /** A client message refused for being over --max-message-bytes: its size. */
    refusedMessageBytes: number | null;
    startupMessages: number;
  }[];
}

/** Host and port of a postgres:// URL (default port 5432); a UsageError naming `flag` otherwise. */
export function upstreamOf(url: string, flag = '--upstream'): { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${flag}: expected a postgres:// URL, got "${maskUrl(url)}"`);
  }
  if (!/^postgres(ql)?:$/i.test(parsed.protocol))
    throw new UsageError(`${flag}: expected a postgres:// URL, got "${maskUrl(url)}"`);
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  return { host, port: parsed.port ? Number(parsed.port) : 5432 };
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/**
 * The sslmode of a postgres:// URL as the proxy uses it towards the upstream: libpq's default
 * `prefer` when absent; `allow` (plaintext first, TLS if the server insists) is read as `prefer`,
 * which reaches every server `allow` reaches. A UsageError naming `flag` for any other value.
 *
 * @example
 * sslModeOf('postgres://db/app?sslmode=verify-full') // 'verify-full'
 */
export function sslModeOf(url: string, flag = '--upstream'): UpstreamSslMode {
  const raw = new URL(url).searchParams.get('sslmode');
  if (raw === null) return 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(raw))
    throw new UsageError(`${flag}: sslmode must be one of ${SSL_MODES.join(', ')}, got "${raw}"`);
  return raw === 'allow' ? 'prefer' : (raw as UpstreamSslMode);
}

/**
 * How the proxy reaches the upstream of `url`: its sslmode, the CA file its `sslrootcert`
 * names (`system`, or none: Node's bundled CAs), and the client certificate of `sslcert` /
 * `sslkey` if given. As in libpq, `require` with an sslrootcert verifies the chain like
 * `verify-ca`. UsageErrors name `flag`.
 *
 * @example
 * await upstreamTlsOf('postgres://db/app?sslmode=verify-full&sslrootcert=/etc/ca.pem')
 * // { mode: 'verify-full', ca: <the PEM>, servername: 'db' }
 */
export async function upstreamTlsOf(url: string, flag = '--upstream'): Promise<UpstreamTls> {
  const { host } = upstreamOf(url, flag);
  const params = new URL(url).searchParams;
  const read = async (name: string): Promise<Buffer | undefined> => {
    const file = params.get(name);
    if (file === null) return undefined;
    try {
      return await readFile(file);
    } catch (error) {
      throw new UsageError(`${flag}: cannot read ${name} "${file}": ${(error as Error).message}`);
    }
  };
  const tls: UpstreamTls = { mode: sslModeOf(url, flag), servername: host };
  // A client certificate, for a server whose pg_hba.conf asks for one: both files, or neither.
  const [cert, key] = [await read('sslcert'), await read('sslkey')];
  if ((cert === undefined) !== (key === undefined))
    throw new UsageError(`${flag}: give sslcert and sslkey together (the client certificate and its key)`);
  if (cert !== undefined) Object.assign(tls, { cert, key });
  const rootCert = params.get('sslrootcert');
  if (rootCert === null || rootCert === 'system') return tls;
  tls.ca = await read('sslrootcert');
  if (tls.mode === 'require') tls.mode = 'verify-ca';
  return tls;
}

/**
 * How long the proxy may take to reach the upstream of `url`, from libpq's `connect_timeout`
 * (seconds; 0 waits forever): undefined when absent (the proxy's default). A UsageError naming
 * `flag` for anything but a whole number.
 *
 * @example
 * connectTimeoutOf('postgres://db/app?connect_timeout=5') // 5000
 */
export function connectTimeoutOf(url: string, flag = '--upstream'): number | undefined {
  const raw = new URL(url).searchParams.get('connect_timeout');
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`${flag}: connect_timeout must be a whole number of seconds, got "${raw}"`);
  return Number(raw.trim()) * 1000;
}

/**
 * The upstream URL with host and port replaced by the proxy's (user, password, database and
 * other parameters kept). TLS parameters are dropped: the proxy's client side is plaintext, and
 * they describe the upstream, which the proxy reaches itself.
 */
export function proxiedUrl(upstreamUrl: string, port: number): string {
  const url = new URL(upstreamUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  for (const name of [...url.searchParams.keys()]) if (/^(ssl|requiressl$)/i.test(name)) url.searchParams.delete(name);
  return url.toString();
}

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
  const upstream = upstreamOf(options.upstreamUrl);
  const tempDir = options.promptLogFile === undefined ? await mkdtemp(path.join(os.tmpdir(), 'ctxbench-record-')) : null;
  const logFile = options.promptLogFile ?? path.join(tempDir!, 'prompts.ndjson');
  // Created empty, so the program only ever appends (and a stale file never counts).
  await writeFile(logFile, '');
  const upstreamTls = await upstreamTlsOf(options.upstreamUrl);
  const proxy = await startWireProxy({
    upstreamHost: upstream.host,
    upstreamPort: upstream.port,
    upstreamTls,
    upstreamConnectTimeoutMs: connectTimeoutOf(options.upstreamUrl),
    showContent: options.showContent,
    maxMessageBytes: options.maxMessageBytes,
  });
  try {
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
    const { exitCode, stdout, stderr } = await runCommand(file, args, env, options.stdio ?? 'inherit', options);
    await settle(proxy);
    const recording = proxy.recording();
    const { log, problems } = await readPromptLog(logFile, recording, 'prompt log');
    const report = await recordingReport(recording, { ...options, promptLog: log });
    report.recording.promptLog = { prompts: log.prompts.size, problems };
    const interrupted = options.signal?.aborted ?? false;
    if (interrupted) report.interrupted = true;
    return { report, exitCode, stdout, stderr, interrupted, promptLogProblems: problems };
  } finally {
    await proxy.close();
    if (tempDir !== null) await rm(tempDir, { recursive: true, force: true });
  }
}

/**
 * Reads a prompt log after the program ended: its prompts, and every problem (a malformed line,
 * a label no unit has) as one line naming the file (as `name` when it is a temporary file).
 */
export async function readPromptLog(
  file: string,
  recording: ProxyRecording,
  name = file,
): Promise<{ log: PromptLog; problems: string[] }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { log: { prompts: new Map(), problems: [] }, problems: [] };
    throw new UsageError(`${name}: cannot read ${file}: ${(error as Error).message}`);
  }
  const log = parsePromptLog(bytes, name);
  const labels = new Set(unitsOf(recording.statements).units.flatMap((u) => (u.label === null ? [] : [u.label])));
  return { log, problems: [...log.problems, ...unmatchedPrompts(log, labels, name)] };
}

/** Waits (briefly) for the command's connections to finish passing through the proxy. */
async function settle(proxy: WireProxy, timeoutMs = 2000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (proxy.openConnections > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
}

/** PGUSER and PGDATABASE as the upstream URL names them (absent when it does not). */
function libpqIdentity(upstreamUrl: string): NodeJS.ProcessEnv {
  const url = new URL(upstreamUrl);
  const env: NodeJS.ProcessEnv = {};
  if (url.username) env.PGUSER = decodeURIComponent(url.username);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database) env.PGDATABASE = database;
  return env;
}

function runCommand(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdio: 'inherit' | 'pipe' | 'ignore',
  options: Pick<RecordOptions, 'signal' | 'killAfterMs'> = {},
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio });
    let killer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      const reason = options.signal?.reason;
      child.kill(typeof reason === 'string' && reason.startsWith('SIG') ? (reason as NodeJS.Signals) : 'SIGTERM');
      // A program that ignores the signal is not waited for forever.
      killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 10_000);
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (t: string) => void (stdout += t));
    child.stderr?.setEncoding('utf8').on('data', (t: string) => void (stderr += t));
    child.once('error', (error) => reject(new UsageError(`record: cannot run "${file}": ${error.message}`)));
    child.once('close', (code, signal) => {
      clearTimeout(killer);
      options.signal?.removeEventListener('abort', onAbort);
      const signalNumber = signal ? (osSignals[signal] ?? 1) : 0;
      resolve({ exitCode: code ?? 128 + signalNumber, stdout, stderr });
    });
  });
}

const osSignals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

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
  const upstream = upstreamOf(options.upstreamUrl);
  if (options.promptLogFile !== undefined) {
    try {
      await writeFile(options.promptLogFile, '');
    } catch (error) {
      throw new UsageError(`--prompt-log: cannot create ${options.promptLogFile}: ${(error as Error).message}`);
    }
  }
  const upstreamTls = await upstreamTlsOf(options.upstreamUrl);
  let proxy: WireProxy;
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
    });
  } catch (error) {
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
    const recording = proxy.recording();
    if (options.promptLogFile === undefined) return await recordingReport(recording, options);
    const { log, problems } = await readPromptLog(options.promptLogFile, recording);
    const report = await recordingReport(recording, { ...options, promptLog: log });
    report.recording.promptLog = { prompts: log.prompts.size, problems };
    return report;
  } finally {
    await proxy.close();
  }
}
