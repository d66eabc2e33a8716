/**
 * Turns the two framed message streams of one PostgreSQL connection into measured statements.
 *
 * A statement is what the client asks the server to run: a simple Query, a FunctionCall, or
 * an extended-protocol Execute. Each ReadyForQuery closes one cycle — a Query, a FunctionCall,
 * or everything up to a Sync, which may hold several Executes when the client pipelines them
 * (libpq's pipeline mode) — and reports its statements. Backend messages belong to the oldest
 * statement whose result is not complete, so pipelined statements are attributed exactly; an
 * Execute the server skipped after an earlier error in its pipeline is reported with that
 * reason. A Sync that executed nothing (a prepare) is a statement of its own: it is still a
 * wait for the server. A statement sent while none is unanswered starts a new round trip;
 * trackers of several connections can share that count, so overlapping waits count once.
 *
 * Optionally (`captureValues`) it also keeps what a statement returned — column names and
 * whole DataRow bodies — for analyses that look at the values themselves. That is opt-in and
 * bounded per statement, because measuring alone never holds more than a message header.
 */
import { Buffer } from 'node:buffer';
import { MessageFramer, cStringEnd, dataRowPayloadBytes, int16, int32, readCString, utf8, type FramedMessage } from './message-framer.js';

/** Transaction status from a ReadyForQuery: idle, in a transaction block, in a failed one. */
export type TransactionStatus = 'I' | 'T' | 'E';

/** A statement closed by its ReadyForQuery, before it is placed in a turn. */
export interface TrackedStatement<Tag> {
  sql: string;
  params: (string | null)[];
  /** Monotonic time (ms) the client sent it. */
  sentAt: number;
  /** Monotonic time (ms) its ReadyForQuery arrived. */
  doneAt: number;
  /** Whether the client had nothing outstanding when it sent it (a new wait for the server). */
  startsRoundTrip: boolean;
  rows: number;
  /** Backend message bytes attributed to it, headers included. */
  wireBytes: number;
  /**
   * Frontend message bytes the client sent for it, headers included: its Query or FunctionCall;
   * for an Execute, the Parse/Bind/Describe before it and the cycle's Sync (on its last
   * statement); COPY data the client streams to it.
   */
  sentBytes: number;
  payloadBytes: number;
  command: string | null;
  error: string | null;
  /**
   * The transaction status after it: what the closing ReadyForQuery reported (idle, in a
   * transaction block, in a failed one) for the last statement of a cycle; `T` (or `E` after an
   * error) for the statements before it in a pipeline, whose transaction was still open.
   */
  status: TransactionStatus | null;
  /** Whatever the owner attached when the statement was sent (e.g. the turn it belongs to). */
  tag: Tag;
  /** What the statement returned; present only when values were captured for it. */
  values?: CapturedValues;
}

/** One column of a result, from its RowDescription. */
export interface CapturedColumn {
  name: string;
  /** The column's type OID (25 text, 23 int4, 3802 jsonb, …). */
  typeOid: number;
  /** 0 for text, 1 for binary. */
  format: number;
}

/** One result set: its columns and its rows as received. */
export interface CapturedResult {
  columns: CapturedColumn[];
  /** DataRow bodies, undecoded (see {@link dataRowValues}). */
  rows: Buffer[];
}

/** Everything a statement returned, when value capture was on for it. */
export interface CapturedValues {
  /** One per RowDescription (a simple Query may carry several statements). */
  results: CapturedResult[];
  /** True when the capture limit was reached: later rows (and result sets) were not kept. */
  truncated: boolean;
  /** Message body bytes kept. */
  bytes: number;
}

/** Default per-statement limit of captured bytes. */
export const DEFAULT_CAPTURE_LIMIT_BYTES = 4 * 1024 * 1024;

/** Options of a {@link StatementTracker}. */
export interface StatementTrackerOptions<Tag> {
  /** Monotonic clock in milliseconds (default `performance.now`). */
  now?: () => number;
  /** In-flight counter shared with the trackers of other connections (round trips span them). */
  sharedInFlight?: { count: number };
  /**
   * Keep column names and field values of statements (all, or those whose tag says so).
   * Off by default: it holds result sets in memory, up to `captureLimitBytes` per statement.
   */
  captureValues?: boolean | ((tag: Tag) => boolean);
  /** Per-statement limit of captured bytes (default {@link DEFAULT_CAPTURE_LIMIT_BYTES}). */
  captureLimitBytes?: number;
  /**
   * Called with the message (and SQLSTATE) of every FATAL or PANIC ErrorResponse: the server
   * is ending the session, whether a statement was running or not.
   */
  onFatal?: (error: string) => void;
  /** Called when the client sends Terminate (it is closing the session itself). */
  onTerminate?: () => void;
}

/**
 * What one ReadyForQuery answers: a simple Query, a FunctionCall, or the extended-protocol
 * messages up to a Sync. An extended cycle holds one statement per Execute (several when the
 * client pipelines them before one Sync), or a single one for a Sync that executed nothing.
 */
interface Cycle<Tag> {
  extended: boolean;
  /** The client sent the Sync that ends it (always true for Query and FunctionCall). */
  synced: boolean;
  statements: TrackedStatement<Tag>[];
  /**
   * Index of the first statement not yet answered — its result not complete (CommandComplete,
   * EmptyQueryResponse, PortalSuspended or an error); statements.length when all are.
   */
  next: number;
  /** Backend bytes that arrived while no statement of the cycle could take them (e.g. a ParseComplete before its Execute was sent). */
  carry: number;
  /** An error that arrived while no statement could take it. */
  carryError: string | null;
}

/** Frontend types whose whole body we need (SQL text, parameters, statement and portal names, function OIDs). */
function frontendKeep(type: string): number {
  switch (type) {
    case 'Q':
    case 'P':
    case 'B':
    case 'E':
    case 'C':
    case 'F':
      return Infinity;
    default:
      return 0;
  }
}

/** How much of a backend message to keep, given the values still to capture for its statement. */
function backendKeep(type: string, captureRoom: number): number {
  switch (type) {
    case 'D':
      // The field count is enough to derive the payload bytes; captured rows need all of it.
      return Math.max(2, captureRoom);
    case 'T':
      return captureRoom;
    case 'V':
      // FunctionCallResponse: the result's length word.
      return 4;
    case 'C':
    case 'E':
    case 'Z':
      return Infinity;
    default:
      return 0;
  }
}

/** The last element of `list`, or undefined when it is empty. */
function lastOf<T>(list: T[]): T | undefined {
  return list.length === 0 ? undefined : list[list.length - 1];
}

/** Texts longer than this are decoded each time, not remembered (a memo should not double a huge query's memory). */
const MEMO_MAX_BYTES = 16 * 1024;

/**
 * The last text decoded at one place of the protocol, with its bytes. Clients send the same SQL
 * again and again (an unnamed Parse each time a statement runs) and the server the same command
 * tags: the same bytes give back the same string, held once however many statements record it,
 * so a recording's statements share their SQL instead of each surviving into the old generation
 * with a copy of its own.
 */
class LastText {
  private bytes: Buffer = Buffer.alloc(0);
  private text = '';

  /** The NUL-terminated text at `buf[start … end)`. */
  decode(buf: Buffer, start: number, end: number): string {
    if (start >= end || buf[start] === 0) return '';
    const stop = cStringEnd(buf, start, end);
    const length = stop - start;
    if (length === this.bytes.length && buf.compare(this.bytes, 0, length, start, stop) === 0) return this.text;
    const text = utf8(buf, start, stop);
    if (length <= MEMO_MAX_BYTES) {
      this.bytes = Buffer.from(buf.subarray(start, stop));
      this.text = text;
    }
    return text;
  }
}

/** Why an Execute of a pipeline got no answer. */
const SKIPPED = 'not executed: an earlier statement of the same pipeline failed';

/**
 * @example
 * const tracker = new StatementTracker(() => currentTurn, (s) => log.push(s));
 * socket.on('data', (c) => tracker.fromServer(c));  // and tracker.fromClient(c) on writes
 */
export class StatementTracker<Tag> {
  private readonly frontend: MessageFramer;
  private readonly backend: MessageFramer;
  /** Cycles sent (or being sent) and not yet closed by their ReadyForQuery, oldest first. */
  private readonly cycles: Cycle<Tag>[] = [];
  /** Named prepared statements: name → SQL. */
  private readonly prepared = new Map<string, string>();
  /** Bound portals: name → the SQL and parameters an Execute of it runs. */
  private readonly portals = new Map<string, { sql: string; params: (string | null)[] }>();
  /*
   * The unnamed statement and portal, which most clients use for every statement, are fields
   * rather than map entries: no map operation and no object per statement (and clearing an
   * empty map at each Sync allocates nothing).
   */
  private unnamedSql: string | null = null;
  private unnamedPortalSql: string | null = null;
  private unnamedPortalParams: (string | null)[] = [];
  /**
   * SQL parsed in the open extended cycle, `;\n`-joined (names a Sync that executed nothing);
   * null when it parsed nothing. A string, not a list: nothing to allocate per cycle.
   */
  private parsedSql: string | null = null;
  /** Frontend bytes not yet given to a statement (a Parse, Bind… before their Execute). */
  private sentCarry = 0;
  private readonly queryText = new LastText();
  private readonly parseText = new LastText();
  private readonly commandText = new LastText();
  private readonly now: () => number;

  /** Statements outstanding on every connection that shares this counter (round trips span them). */
  private readonly inFlight: { count: number };

  private readonly capture: (tag: Tag) => boolean;
  private readonly captureLimit: number;
  private readonly onFatal: ((error: string) => void) | undefined;
  private readonly onTerminate: (() => void) | undefined;

  constructor(
    private readonly tagNow: () => Tag,
    private readonly onStatement: (statement: TrackedStatement<Tag>) => void,
    options: StatementTrackerOptions<Tag> = {},
  ) {
    // The global is looked up once: \`performance\` is a lazily defined accessor of globalThis.
    const clock = performance;
    this.now = options.now ?? (() => clock.now());
    this.inFlight = options.sharedInFlight ?? { count: 0 };
    const capture = options.captureValues ?? false;
    this.capture = typeof capture === 'function' ? capture : () => capture;
    this.captureLimit = Math.max(0, options.captureLimitBytes ?? DEFAULT_CAPTURE_LIMIT_BYTES);
    this.onFatal = options.onFatal;
    this.onTerminate = options.onTerminate;
    this.frontend = new MessageFramer(frontendKeep, (m) => this.onFrontend(m));
    // Messages arrive in order, so the oldest unanswered statement is the one this message is for.
    // A tracker that never captures (the proxy's) need not look for that statement per message.
    this.backend = new MessageFramer(
      capture === false ? (type) => backendKeep(type, 0) : (type) => backendKeep(type, this.captureRoom()),
      (m) => this.onBackend(m),
    );
  }

  /** Bytes the statement now receiving may still capture (0 when it captures nothing). */
  private captureRoom(): number {
    const values = this.target()?.values;
    return values === undefined || values.truncated ? 0 : Math.max(0, this.captureLimit - values.bytes);
  }

  /** Bytes the client sent (after the startup phase). */
  fromClient(chunk: Uint8Array): void {
    this.frontend.push(chunk);
  }

  /** Bytes the server sent (after the startup phase). */
  fromServer(chunk: Uint8Array): void {
    this.backend.push(chunk);
  }

  /**
   * A client message in `chunk` (the client's next bytes) announcing more than `maxWireBytes`,
   * found before the chunk is tracked (see {@link MessageFramer.peekOversized}), or null.
   */
  peekOversizedClientMessage(chunk: Uint8Array, maxWireBytes: number): { offset: number; wireBytes: number } | null {
    return this.frontend.peekOversized(chunk, maxWireBytes);
  }

  /** Statements sent and not yet closed by the server. */
  get outstanding(): number {
    let n = 0;
    for (const cycle of this.cycles) n += cycle.statements.length;
    return n;
  }

  /**
   * Drops every statement not yet reported (its connection closed). Those the server had not
   * answered give back their share of the shared in-flight count; those it had (earlier
   * Executes of a pipeline) gave it back already. Each is passed to `dropped`, if given, with
   * whether the server had answered it (its result complete, its cycle not). Returns how many
   * were dropped.
   */
  abandon(dropped?: (statement: TrackedStatement<Tag>, answered: boolean) => void): number {
    const count = this.outstanding;
    const now = this.now();
    for (const cycle of this.cycles) {
      this.inFlight.count -= cycle.statements.length - cycle.next;
      cycle.statements.forEach((statement, i) => {
        if (i >= cycle.next) statement.doneAt = now;
        dropped?.(statement, i < cycle.next);
      });
    }
    this.cycles.length = 0;
    return count;
  }

  private pending(sql: string, params: (string | null)[]): TrackedStatement<Tag> {
    const startsRoundTrip = this.inFlight.count === 0;
    this.inFlight.count += 1;
    const tag = this.tagNow();
    const pending: TrackedStatement<Tag> = {
      sql,
      params,
      sentAt: this.now(),
      doneAt: 0,
      startsRoundTrip,
      rows: 0,
      wireBytes: 0,
      sentBytes: this.sentCarry,
      payloadBytes: 0,
      command: null,
      error: null,
      status: null,
      tag,
    };
    this.sentCarry = 0;
    // Only when capturing, so statements measured without it look exactly as before.
    if (this.capture(tag)) pending.values = { results: [], truncated: false, bytes: 0 };
    return pending;
  }

  /** A cycle of one statement that the ReadyForQuery answers (Query, FunctionCall). */
  private single(sql: string, params: (string | null)[]): void {
    const statement = this.pending(sql, params);
    this.cycles.push({ extended: false, synced: true, statements: [statement], next: 0, carry: 0, carryError: null });
  }

  /** The extended cycle the client is still sending (opened by its first extended message). */
  private openCycle(): Cycle<Tag> {
    // Not cycles[length - 1] when empty: index -1 is a named-property lookup, V8's slowest read.
    const last = lastOf(this.cycles);
    if (last !== undefined && last.extended && !last.synced) return last;
    const cycle: Cycle<Tag> = { extended: true, synced: false, statements: [], next: 0, carry: 0, carryError: null };
    this.cycles.push(cycle);
    this.parsedSql = null;
    return cycle;
  }

  /** The statement the next backend message belongs to, if any. */
  private target(): TrackedStatement<Tag> | undefined {
    const cycle = this.cycles[0];
    if (cycle === undefined) return undefined;
    const next = cycle.statements[cycle.next];
    if (next !== undefined) return next;
    // Everything answered (or nothing sent yet): what is left before the Sync's ReadyForQuery
    // belongs to the cycle's last statement, once the client has sent its Sync.
    return cycle.synced ? lastOf(cycle.statements) : undefined;
  }

  /** Marks the cycle's current statement answered (its result is complete). */
  private answer(cycle: Cycle<Tag>, statement: TrackedStatement<Tag>): void {
    if (cycle.statements[cycle.next] !== statement) return;
    statement.doneAt = this.now();
    this.inFlight.count -= 1;
    cycle.next += 1;
  }

  private onFrontend(m: FramedMessage): void {
    this.sentCarry += m.wireBytes;
    switch (m.type) {
      case 'Q':
        this.single(this.queryText.decode(m.source, m.start, m.start + m.kept), []);
        break;
      case 'F':
        this.single(functionCallSql(m.head.readUInt32BE(0)), []);
        break;
      case 'P': {
        this.openCycle();
        const { source, start } = m;
        const end = start + m.kept;
        const nameEnd = cStringEnd(source, start, end);
        const sql = this.parseText.decode(source, Math.min(nameEnd + 1, end), end);
        if (nameEnd === start) this.unnamedSql = sql;
        else this.prepared.set(cString(source, start, nameEnd), sql);
        this.parsedSql = this.parsedSql === null ? sql : `${this.parsedSql};\n${sql}`;
        break;
      }
      case 'B':
        this.openCycle();
        this.bind(m.source, m.start, m.start + m.kept);
        break;
      case 'E': {
        const cycle = this.openCycle();
        const portal = cString(m.source, m.start, m.start + m.kept);
        let statement: TrackedStatement<Tag>;
        if (portal === '' && this.unnamedPortalSql !== null) statement = this.pending(this.unnamedPortalSql, this.unnamedPortalParams);
        else {
          const bound = portal === '' ? undefined : this.portals.get(portal);
          statement = bound === undefined ? this.pending(`/* portal "${portal}" */`, []) : this.pending(bound.sql, bound.params);
        }
        cycle.statements.push(statement);
        if (cycle.carry > 0 && cycle.next === cycle.statements.length - 1) {
          // Responses that came before this Execute (its ParseComplete, say) are its own.
          statement.wireBytes += cycle.carry;
          cycle.carry = 0;
        }
        break;
      }
      case 'C': {
        this.openCycle();
        // Close: 'S' statement or 'P' portal, then the name.
        const name = readCString(m.head, 1)[0];
        if (m.head[0] === 0x53) {
          if (name === '') this.unnamedSql = null;
          else this.prepared.delete(name);
        } else if (name === '') this.unnamedPortalSql = null;
        else this.portals.delete(name);
        break;
      }
      case 'D':
      case 'H':
        this.openCycle();
        break;
      case 'X':
        this.onTerminate?.();
        break;
      case 'd':
      case 'c':
      case 'f': {
        // COPY … FROM STDIN: the rows the client streams belong to the COPY statement running.
        const running = lastOf(lastOf(this.cycles)?.statements ?? []);
        if (running !== undefined) {
          running.sentBytes += this.sentCarry;
          this.sentCarry = 0;
        }
        break;
      }
      case 'S': {
        const cycle = this.openCycle();
        cycle.synced = true;
        if (cycle.statements.length > 0) {
          cycle.statements[cycle.statements.length - 1]!.sentBytes += this.sentCarry;
          this.sentCarry = 0;
        } else {
          // A Sync that executed nothing (a prepare, a describe) still waits for the server.
          const statement = this.pending(this.parsedSql ?? '/* sync */', []);
          statement.wireBytes += cycle.carry;
          cycle.carry = 0;
          cycle.statements.push(statement);
        }
        // Unnamed portals do not outlive their transaction; named ones rarely matter: forget them all.
        this.unnamedPortalSql = null;
        if (this.portals.size > 0) this.portals.clear();
        break;
      }
      default:
        break;
    }
  }

  private onBackend(m: FramedMessage): void {
    if (m.type === 'E' && this.onFatal !== undefined) {
      const severity = errorSeverity(m.head);
      if (severity === 'FATAL' || severity === 'PANIC') this.onFatal(parseErrorMessage(m.head));
    }
    const cycle = this.cycles[0];
    // Asynchronous messages (notices, parameter status) with nothing outstanding belong to no statement.
    if (cycle === undefined) return;
    if (m.type === 'Z') {
      this.close(cycle, m);
      return;
    }
    const head = this.target();
    if (head === undefined) {
      cycle.carry += m.wireBytes;
      if (m.type === 'E') cycle.carryError = parseErrorMessage(m.head);
      return;
    }
    head.wireBytes += m.wireBytes;
    switch (m.type) {
      case 'T':
        if (head.values !== undefined) captureDescription(head.values, m);
        break;
      case 'D':
        head.rows += 1;
        if (m.kept < 2) throw new Error(`wire protocol: DataRow of ${m.bodyBytes} bytes has no field count`);
        head.payloadBytes += dataRowPayloadBytes(m.bodyBytes, int16(m.source, m.start));
        if (head.values !== undefined) captureRow(head.values, m);
        break;
      case 'd':
        // COPY … TO STDOUT: one CopyData message per row in text and CSV formats.
        head.rows += 1;
        head.payloadBytes += m.bodyBytes;
        break;
      case 'V': {
        // FunctionCallResponse: the result's bytes are its payload (-1 is NULL).
        const length = m.head.readInt32BE(0);
        if (length > 0) head.payloadBytes += length;
        break;
      }
      case 'C':
        head.command = this.commandText.decode(m.source, m.start, m.start + m.kept);
        if (cycle.extended) this.answer(cycle, head);
        break;
      case 'I':
      case 's':
        if (cycle.extended) this.answer(cycle, head);
        break;
      case 'E':
        head.error = parseErrorMessage(m.head);
        // The server skips the rest of the cycle up to its Sync: this statement is answered.
        if (cycle.extended) this.answer(cycle, head);
        break;
      default:
        break;
    }
  }

  /** A ReadyForQuery: the oldest cycle is over; report its statements in the order sent. */
  private close(cycle: Cycle<Tag>, z: FramedMessage): void {
    this.cycles.shift();
    const status = z.kept === 0 ? null : (STATUSES[z.source[z.start]!] ?? null);
    const { statements } = cycle;
    const last = lastOf(statements);
    if (last === undefined) return;
    last.wireBytes += z.wireBytes + cycle.carry;
    if (cycle.carryError !== null) last.error ??= cycle.carryError;
    let failed = false;
    for (const s of statements) if (s.error !== null) failed = true;
    const doneAt = this.now();
    let failedYet = false;
    // Loops, not callbacks: this runs once per cycle on the forwarding path.
    for (let i = 0; i < statements.length; i++) {
      const statement = statements[i]!;
      if (i >= cycle.next) {
        statement.doneAt = doneAt;
        this.inFlight.count -= 1;
        // An Execute the server skipped after an earlier failure in the same pipeline.
        if (cycle.extended && failed && statement.error === null) statement.error = SKIPPED;
      }
      // The last one's time ends at the ReadyForQuery (the others' at their own results).
      if (statement === last) statement.doneAt = doneAt;
      // Before the last statement of a pipeline the implicit (or explicit) transaction is still open.
      failedYet ||= statement.error !== null;
      statement.status = statement === last ? status : failedYet ? 'E' : 'T';
      // Completed in place: no copy of the record on the hot path.
      this.onStatement(statement);
    }
  }

  /**
   * A Bind: the portal it names will run the statement it names, with these parameters (text
   * ones decoded, binary ones described by their size).
   */
  private bind(body: Buffer, start: number, end: number): void {
    const portalEnd = cStringEnd(body, start, end);
    let offset = Math.min(portalEnd + 1, end);
    const nameEnd = cStringEnd(body, offset, end);
    const name = cString(body, offset, nameEnd);
    offset = nameEnd + 1;
    // `body` may be the whole chunk: a read past this message's end is a malformed Bind, not the next message.
    if (offset + 2 > end) throw truncatedBind(end - start);
    // A negative count is malformed: no formats, all text (as for none).
    const formatCount = Math.max(0, int16(body, offset));
    const formats = offset + 2;
    offset = formats + 2 * formatCount;
    if (offset + 2 > end) throw truncatedBind(end - start);
    const paramCount = int16(body, offset);
    offset += 2;
    const params: (string | null)[] = [];
    for (let i = 0; i < paramCount; i++) {
      if (offset + 4 > end) throw truncatedBind(end - start);
      const length = int32(body, offset);
      offset += 4;
      if (length < 0) {
        params.push(null);
        continue;
      }
      // One format for all, or one per parameter (none: all text).
      const format = formatCount === 1 ? int16(body, formats) : i < formatCount ? int16(body, formats + 2 * i) : 0;
      params.push(format === 1 ? binaryParam(length) : utf8(body, offset, Math.min(offset + length, end)));
      offset += length;
    }
    const sql = (name === '' ? this.unnamedSql : this.prepared.get(name)) ?? `/* prepared statement "${name}" */`;
    if (portalEnd === start) {
      this.unnamedPortalSql = sql;
      this.unnamedPortalParams = params;
    } else this.portals.set(cString(body, start, portalEnd), { sql, params });
  }
}

/**
 * Built-in functions clients call with FunctionCall (libpq's large-object API): their OIDs are
 * fixed in every PostgreSQL release, so the recording can name them.
 */
const KNOWN_FUNCTIONS: Record<number, string> = {
  715: 'lo_create',
  952: 'lo_open',
  953: 'lo_close',
  954: 'loread',
  955: 'lowrite',
  956: 'lo_lseek',
  957: 'lo_creat',
  958: 'lo_tell',
  964: 'lo_unlink',
  1004: 'lo_truncate',
  3170: 'lo_lseek64',
  3171: 'lo_tell64',
  3172: 'lo_truncate64',
};

/** How a FunctionCall appears as a statement: a comment naming the function. */
function functionCallSql(oid: number): string {
  const name = KNOWN_FUNCTIONS[oid];
  return name === undefined ? `/* FunctionCall oid ${oid} */` : `/* FunctionCall ${name} (oid ${oid}) */`;
}

/**
 * The text of `buf[start … end)` up to its NUL: '' without decoding anything for an empty one
 * (the unnamed statement and portal, which most clients use).
 */
function cString(buf: Buffer, start: number, end: number): string {
  if (start >= end || buf[start] === 0) return '';
  return utf8(buf, start, cStringEnd(buf, start, end));
}

/** How a binary parameter is recorded: its size, not its bytes. */
function binaryParam(length: number): string {
  return `<binary ${length} bytes>`;
}

function truncatedBind(bodyBytes: number): Error {
  return new Error(`wire protocol: Bind of ${bodyBytes} bytes ends before its parameters do`);
}

/** Transaction status byte of a ReadyForQuery → its letter. */
const STATUSES: Record<number, TransactionStatus> = { 0x49: 'I', 0x54: 'T', 0x45: 'E' };

/** Starts a result set from a RowDescription, unless the capture limit cut it short. */
function captureDescription(values: CapturedValues, m: FramedMessage): void {
  if (values.truncated) return;
  if (m.head.length < m.bodyBytes) {
    values.truncated = true;
    return;
  }
  const body = m.head;
  const count = body.readInt16BE(0);
  const columns: CapturedColumn[] = [];
  let offset = 2;
  for (let i = 0; i < count; i++) {
    const [name, next] = readCString(body, offset);
    // Per field: table OID (4), column number (2), type OID (4), type size (2), type modifier (4), format (2).
    columns.push({ name, typeOid: body.readUInt32BE(next + 6), format: body.readInt16BE(next + 16) });
    offset = next + 18;
  }
  values.results.push({ columns, rows: [] });
  values.bytes += m.bodyBytes;
}

/** Keeps a DataRow's body, unless the capture limit cut it short. */
function captureRow(values: CapturedValues, m: FramedMessage): void {
  if (values.truncated) return;
  if (m.head.length < m.bodyBytes) {
    values.truncated = true;
    return;
  }
  // Rows without a RowDescription (a Describe skipped): kept, with no columns to name them.
  if (values.results.length === 0) values.results.push({ columns: [], rows: [] });
  // A copy: the framer's head may be a view of a socket chunk.
  values.results[values.results.length - 1]!.rows.push(Buffer.from(m.head));
  values.bytes += m.bodyBytes;
}

/**
 * The field values of a captured DataRow body, as undecoded bytes; null for NULL.
 *
 * @example
 * const [first] = dataRowValues(result.rows[0]!);
 * first?.toString('utf8');
 */
export function dataRowValues(body: Buffer): (Buffer | null)[] {
  const count = body.readInt16BE(0);
  const out: (Buffer | null)[] = [];
  let offset = 2;
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(offset);
    offset += 4;
    if (length < 0) {
      out.push(null);
      continue;
    }
    out.push(body.subarray(offset, offset + length));
    offset += length;
  }
  return out;
}

/** The severity of an ErrorResponse (`V`, else the localised `S`): ERROR, FATAL, PANIC. */
function errorSeverity(body: Buffer): string {
  let offset = 0;
  let severity = '';
  while (offset < body.length && body[offset] !== 0) {
    const field = String.fromCharCode(body[offset]!);
    const [value, next] = readCString(body, offset + 1);
    if (field === 'V') return value;
    if (field === 'S') severity = value;
    offset = next;
  }
  return severity;
}

/**
 * The `M` (message) field of an ErrorResponse body, followed by its SQLSTATE.
 *
 * @example
 * parseErrorMessage(body) // 'relation "nope" does not exist (SQLSTATE 42P01)'
 */
export function parseErrorMessage(body: Buffer): string {
  let offset = 0;
  let message = '';
  let code = '';
  while (offset < body.length && body[offset] !== 0) {
    const field = String.fromCharCode(body[offset]!);
    const [value, next] = readCString(body, offset + 1);
    if (field === 'M') message = value;
    if (field === 'C') code = value;
    offset = next;
  }
  return code ? `${message} (SQLSTATE ${code})` : message;
}
