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
import { findFindings } from './analysis/findings.js';
import { checkBudget, hasLimits, type Budget } from './budget.js';
import { UsageError, maskUrl } from './errors.js';
import type { ProxiedStatement, ProxyRecording } from './net/wire-proxy.js';
import { figuresOf, mean, meanFigures, round, sumFigures } from './figures.js';
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
  const tokenizer = await loadTokenizer(options.tokenizer);
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
