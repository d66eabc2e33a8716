/**
 * Recordings as reports: statements a program sent through the recording proxy, cut into units
 * of work (turn markers, else transactions), with SQL literals hidden unless asked, the prompts
 * the program logged attached by label, and figures, findings and budgets as for any strategy.
 * A recording becomes an ordinary ctxbench Report (one strategy, one TurnDetail per unit), so
 * every renderer and budget check works on it unchanged.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { initFingerprinting, redactLiterals } from './analysis/fingerprint.js';
import { isLiteralToken, redactErrorMessage } from './analysis/error-redaction.js';
import { checkBudget, hasLimits, type Budget } from './budget.js';
import { UsageError, maskUrl } from './errors.js';
import type { ProxiedStatement, ProxyRecording, TransactionStatus } from './net/wire-proxy.js';
import { figuresOf, mean, meanFigures, round, sumFigures } from './figures.js';
import { RecordSpill } from './detail-spill.js';
import { FindingsAccumulator } from './analysis/findings.js';
import { parsePromptLog, promptFigures, unmatchedPrompts, type PromptLog } from './prompt-log.js';
import { loadTokenizer, type TokenizerName } from './tokens.js';
import { percentiles } from './runner.js';
import { statementRecords } from './recorder.js';
import type { StatementRecord } from './types.js';
import { REPORT_VERSION, type Report, type StrategyReport, type TotalFigures, type TurnDetail } from '../report/model.js';
import { TOOL_VERSION } from '../version.js';

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
   * `showContent`. The log's problems, and labels no unit has, go to `recording.promptLog`.
   */
  promptLog?: PromptLog | null;
  /** Counts the logged prompts' tokens (default `o200k` when prompts were logged; `none` to skip). */
  tokenizer?: TokenizerName;
  /**
   * Where each unit's detail goes as soon as it is built, in report order (a
   * `TurnDetailSpill`'s `add`, for a long recording): the report's `turnDetails` then keep only
   * what its table shows — the units with a logged prompt or a failed statement, each with only
   * its failed statements — and a JSON report reads the rest back from where they went
   * (`renderJsonChunks`). With a budget every unit is still kept whole: its violations name the
   * statements of any unit.
   */
  onTurnDetail?: (detail: RecordedTurn) => void;
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

/** How a report reads a recording's statements: what cuts units, per statement, and each whole statement when its unit is built. */
interface StatementSource {
  readonly count: number;
  readonly hasMarkers: boolean;
  sentAt(i: number): number;
  connectionId(i: number): number;
  status(i: number): TransactionStatus | null;
  marker(i: number): { label: string; only: boolean } | null;
  statement(i: number): ProxiedStatement;
}

function arraySource(statements: readonly ProxiedStatement[]): StatementSource {
  const markers = statements.map((s) => markerOf(s.sql));
  return {
    count: statements.length,
    hasMarkers: markers.some((m) => m !== null),
    sentAt: (i) => statements[i]!.sentAt,
    connectionId: (i) => statements[i]!.connectionId,
    status: (i) => statements[i]!.status,
    marker: (i) => markers[i]!,
    statement: (i) => statements[i]!,
  };
}

const STATUS_CODES: readonly (TransactionStatus | null)[] = [null, 'I', 'T', 'E'];

/**
 * The statements of a recording in progress, kept on disk as the proxy hands them over (pass
 * `add` as its `onStatements`) with, in memory, only what cuts them into units: 17 bytes a
 * statement (when it was sent, its connection, the transaction status after it, where it is on
 * disk), plus the labels of turn markers. {@link recordingReport} reads it like the statements
 * of a {@link ProxyRecording}, one unit at a time; `dispose` removes the file.
 *
 * @example
 * const log = StatementLog.create();
 * const proxy = await startWireProxy({ upstreamHost, upstreamPort, onStatements: (b) => log.add(b) });
 * // … the program runs …
 * const report = await recordingReport({ ...proxy.recording(), statements: log });
 * log.dispose();
 */
export class StatementLog implements StatementSource {
  private readonly spill: RecordSpill<ProxiedStatement>;
  private sent = new Float64Array(1024);
  private connections = new Uint32Array(1024);
  private statuses = new Uint8Array(1024);
  private readonly markers = new Map<number, { label: string; only: boolean }>();
  private disposed = false;

  private constructor(dir: string | undefined) {
    this.spill = RecordSpill.create<ProxiedStatement>({ dir });
  }

  /** An empty log in a new directory under the system's temporary one (`dir`, if given). */
  static create(options: { dir?: string } = {}): StatementLog {
    return new StatementLog(options.dir);
  }

  get count(): number {
    return this.spill.size;
  }

  get hasMarkers(): boolean {
    return this.markers.size > 0;
  }

  /** Appends statements, in the order the proxy handed them over. */
  add(batch: readonly ProxiedStatement[]): void {
    // A closing proxy may still hand over what it abandoned after the report was built.
    if (this.disposed) return;
    for (const s of batch) {
      const i = this.spill.add(s);
      if (i === this.sent.length) this.grow();
      this.sent[i] = s.sentAt;
      this.connections[i] = s.connectionId;
      this.statuses[i] = STATUS_CODES.indexOf(s.status);
      const m = markerOf(s.sql);
      if (m !== null) this.markers.set(i, m);
    }
  }

  private grow(): void {
    const n = this.sent.length * 2;
    const sent = new Float64Array(n);
    sent.set(this.sent);
    this.sent = sent;
    const connections = new Uint32Array(n);
    connections.set(this.connections);
    this.connections = connections;
    const statuses = new Uint8Array(n);
    statuses.set(this.statuses);
    this.statuses = statuses;
  }

  sentAt(i: number): number {
    return this.sent[i]!;
  }

  connectionId(i: number): number {
    return this.connections[i]!;
  }

  status(i: number): TransactionStatus | null {
    return STATUS_CODES[this.statuses[i]!]!;
  }

  marker(i: number): { label: string; only: boolean } | null {
    return this.markers.get(i) ?? null;
  }

  statement(i: number): ProxiedStatement {
    return this.spill.get(i);
  }

  /** Removes the file; statements added after are ignored. */
  dispose(): void {
    this.disposed = true;
    this.spill.dispose();
  }
}

interface Unit {
  label: string | null;
  connectionId: number;
  /** Indexes into the source, in the order sent. */
  statements: number[];
  marker: number | null;
}

/**
 * Groups statements into units of work. With markers (if any statement carries one): each
 * `SELECT 'ctxbench:turn x'` starts unit x across all connections, and a comment marker starts
 * one when its label differs from the current unit's (sqlcommenter tags every statement);
 * statements before the first marker form a unit `(before first marker)`. Without markers:
 * each transaction (per connection, from the ReadyForQuery status) or lone statement is a unit.
 */
function unitsOf(source: StatementSource): { mode: UnitMode; units: Unit[] } {
  // In the order sent; the index breaks ties, so equal times keep the order handed over.
  const bySend = Array.from({ length: source.count }, (_, i) => i).sort((a, b) => source.sentAt(a) - source.sentAt(b) || a - b);
  if (source.hasMarkers) {
    const units: Unit[] = [];
    let current: Unit | null = null;
    for (const i of bySend) {
      const m = source.marker(i);
      if (m && (m.only || current === null || current.label !== m.label)) {
        current = { label: m.label, connectionId: source.connectionId(i), statements: [], marker: null };
        units.push(current);
      }
      if (current === null) {
        current = { label: null, connectionId: source.connectionId(i), statements: [], marker: null };
        units.push(current);
      }
      if (m?.only) current.marker ??= i;
      else current.statements.push(i);
    }
    return { mode: 'markers', units: units.filter((u) => u.statements.length > 0 || u.marker !== null) };
  }
  const units: Unit[] = [];
  const openUnits = new Map<number, Unit>();
  for (const i of bySend) {
    const connectionId = source.connectionId(i);
    let unit = openUnits.get(connectionId);
    if (unit === undefined) {
      unit = { label: null, connectionId, statements: [], marker: null };
      units.push(unit);
      openUnits.set(connectionId, unit);
    }
    unit.statements.push(i);
    // Idle after it (or unknown): the transaction, or the lone statement, is over.
    const status = source.status(i);
    if (status === 'I' || status === null) openUnits.delete(connectionId);
  }
  return { mode: 'transactions', units };
}

/** Hides a recording's content: its statements' literals, and the values its errors quote. */
export interface LiteralHasher {
  (sql: string): string;
  /** An error message with the values it quotes hashed as the same literal in SQL would be. */
  error(message: string): string;
}

/**
 * A function that replaces every literal of a statement by `'<lit:` + 12 hex digits of an
 * HMAC-SHA256 of it + `>'`, with a key of its own: within one report, equal literals hash
 * equal (so duplicates are still found, and the fingerprint is unchanged), and nothing can be
 * recovered from a hash. The label of a marker (`'ctxbench:turn …'`) is not a secret: it stays.
 * Its `error` hides what a server error message quotes of the data with the same key, so the
 * value a failed statement was refused for matches that statement's literal.
 *
 * @example
 * literalHasher()("select * from users where email = 'alice@example.com'")
 * // => "select * from users where email = '<lit:3f9a0c7be21d>'"
 */
export function literalHasher(): LiteralHasher {
  const key = randomBytes(32);
  const hashed = (literal: string): string =>
    /^'ctxbench:turn\s/i.test(literal) ? literal : `'<lit:${createHmac('sha256', key).update(literal).digest('hex').slice(0, 12)}>'`;
  const quotedValue = (value: string): string => {
    // A value from a data error was written in SQL as the literal '…'; a token is one already.
    const literal = isLiteralToken(value) ? value : `'${value.replace(/'/g, "''")}'`;
    return hashed(literal).replace(/^'|'$/g, '');
  };
  return Object.assign((sql: string) => redactLiterals(sql, hashed), {
    error: (message: string) => redactErrorMessage(message, quotedValue),
  });
}

/**
 * A unit's statements as records, numbered as the in-process recorder numbers them, with their
 * connection; fingerprinted before `hide` replaces their literals.
 */
function toRecords(statements: readonly ProxiedStatement[], hide: LiteralHasher | null): RecordedStatement[] {
  return statementRecords(statements, () => null).map((r, i) => ({
    ...r,
    sql: hide === null ? r.sql : hide(r.sql),
    error: hide === null || r.error === null ? r.error : hide.error(r.error),
    durationMs: round(r.durationMs, 3),
    connectionId: statements[i]!.connectionId,
  }));
}

/**
 * Turns a proxy recording into a ctxbench Report with one strategy (`recording`), one
 * TurnDetail per unit of work. Prompt fields are empty: a recording has no prompt. Its
 * statements may be a {@link StatementLog} (a long recording, kept on disk): units are then
 * built, folded into the figures and findings, and handed to `onTurnDetail` one at a time.
 *
 * @example
 * const report = await recordingReport(proxy.recording(), { budget: budgetFromLimits({ queries: 10 }) });
 * process.stdout.write(renderTable(report, { color: false }));
 */
export async function recordingReport(
  recording: Omit<ProxyRecording, 'statements'> & { statements: readonly ProxiedStatement[] | StatementLog },
  options: RecordingReportOptions = {},
): Promise<Report & { recording: RecordingInfo }> {
  await initFingerprinting();
  const source = recording.statements instanceof StatementLog ? recording.statements : arraySource(recording.statements);
  // Markers are read from the SQL as sent, before its literals are hidden.
  const { mode, units } = unitsOf(source);
  const hide = options.showContent === true ? null : literalHasher();
  const budgeted = options.budget != null && hasLimits(options.budget);
  const keepAll = options.onTurnDetail === undefined || budgeted;
  const prompts = await promptAttacher(options);
  const findings = new FindingsAccumulator();
  const latencies: number[] = [];
  let totals: TotalFigures = sumFigures([]);
  let promptBytes = 0;
  const turnDetails: RecordedTurn[] = [];
  units.forEach((u, i) => {
    const sent = u.statements.map((j) => source.statement(j));
    const marker = u.marker === null ? null : source.statement(u.marker);
    const statements = toRecords(sent, hide);
    const all = marker ? [marker, ...sent] : sent;
    // reduce, not Math.min(...): a long unit would overflow the argument list.
    const start = all.reduce((a, s) => Math.min(a, s.sentAt), Infinity);
    const end = all.reduce((a, s) => Math.max(a, s.doneAt), -Infinity);
    const turn: RecordedTurn = {
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
      marker: marker ? { ...toRecords([marker], hide)[0]!, seq: 0, roundTrip: 0 } : null,
    };
    prompts.attach(turn);
    totals = sumFigures([totals, turn]);
    promptBytes += turn.promptBytes;
    latencies.push(...turn.latencyMs);
    findings.addTurn(turn);
    options.onTurnDetail?.(turn);
    if (keepAll) turnDetails.push(turn);
    else {
      // What the table reads of a unit: whether a prompt was logged for it, and its failed statements.
      const failed = statements.filter((s) => s.error !== null);
      if (failed.length > 0 || turn.promptSha256 !== '') turnDetails.push({ ...turn, statements: failed });
    }
  });
  const name = options.name ?? 'recording';
  const n = Math.max(1, units.length);
  if (prompts.tokens !== null) totals.promptTokens = prompts.tokens;
  const strategy: StrategyReport = {
    name,
    source: null,
    turns: units.length,
    perTurn: {
      ...meanFigures(totals, n),
      promptBytes: mean(promptBytes, n),
      ...(prompts.tokens === null ? {} : { promptTokens: mean(prompts.tokens, n) }),
      latencyMs: percentiles(latencies),
    },
    totals,
    // One recording compares its prompts with nothing: only compare --before/--after checks them.
    contextIdentical: null,
    difference: null,
    findings: findings.result(),
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
        terminated: hide === null || c.terminated === null ? c.terminated : hide.error(c.terminated),
        trackingError: c.trackingError,
        untrackedBytes: c.untrackedBytes,
        refusedMessageBytes: c.refusedMessageBytes,
        startupMessages: c.startupMessages,
      })),
    },
  };
  if (options.promptLog) {
    const labels = new Set(units.flatMap((u) => (u.label === null ? [] : [u.label])));
    const log = options.promptLog;
    report.recording.promptLog = { prompts: log.prompts.size, problems: [...log.problems, ...unmatchedPrompts(log, labels)] };
  }
  if (budgeted) report.budget = checkBudget(report, options.budget!);
  return report;
}

/**
 * Puts each logged prompt on the turns with its label, as they are built: its bytes, sha256
 * and tokens, and its text only when content is shown. `tokens` is the running total (null
 * when nothing is counted).
 */
async function promptAttacher(
  options: RecordingReportOptions,
): Promise<{ attach: (turn: RecordedTurn) => void; readonly tokens: number | null; encoding: string | null }> {
  const log = options.promptLog;
  if (!log || log.prompts.size === 0) return { attach: () => undefined, tokens: null, encoding: null };
  const tokenizer = await loadTokenizer(options.tokenizer);
  // A label may open many units: its prompt is counted once.
  const counted = new Map<string, number>();
  let tokens = 0;
  return {
    attach(t) {
      const p = log.prompts.get(t.turn);
      if (p === undefined) return;
      Object.assign(t, promptFigures(p.text));
      if (tokenizer !== null) {
        let n = counted.get(p.label);
        if (n === undefined) counted.set(p.label, (n = tokenizer.count(p.text)));
        t.promptTokens = n;
        tokens += n;
      }
      if (options.showContent === true) t.prompt = p.text;
    },
    get tokens() {
      return tokenizer === null ? null : tokens;
    },
    encoding: tokenizer?.encoding ?? null,
  };
}

/** What a recording report carries beyond a Report: how units were formed and the connections seen. */
export interface RecordingInfo {
  units: UnitMode;
  /** What the program's prompt log held: the prompts logged, and every malformed line or unmatched label. */
  promptLog?: { prompts: number; problems: string[] };
  /** The round-trip time added between the proxy and the database (`--rtt`), milliseconds. */
  rttMs?: number;
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

/**
 * Reads a prompt log after the program ended (a missing file is an empty log), naming it `name`
 * in messages (`prompt log` for a temporary file). Its labels are checked against the units by
 * {@link recordingReport}, which cuts them.
 */
export async function readPromptLog(file: string, name = file): Promise<PromptLog> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { file: name, prompts: new Map(), problems: [] };
    throw new UsageError(`${name}: cannot read ${file}: ${(error as Error).message}`);
  }
  return parsePromptLog(bytes, name);
}
