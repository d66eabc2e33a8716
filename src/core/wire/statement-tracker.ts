/**
 * Turns the two framed message streams of one PostgreSQL connection into measured statements.
 *
 * A statement is what the server closes with one ReadyForQuery: a simple Query, or an
 * extended-protocol sequence ending in Sync. Every backend byte between two ReadyForQuery
 * messages belongs to the oldest statement still waiting, so pipelined statements are
 * attributed exactly. A statement sent while none is outstanding starts a new round trip;
 * trackers of several connections can share that count, so overlapping waits count once.
 *
 * Optionally (`captureValues`) it also keeps what a statement returned — column names and
 * whole DataRow bodies — for analyses that look at the values themselves. That is opt-in and
 * bounded per statement, because measuring alone never holds more than a message header.
 */
import { MessageFramer, dataRowPayloadBytes, readCString, type FramedMessage } from './message-framer.js';

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
  wireBytes: number;
  payloadBytes: number;
  command: string | null;
  error: string | null;
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
}

interface Pending<Tag> extends Omit<TrackedStatement<Tag>, 'doneAt'> {}

/** Frontend types whose whole body we need (SQL text, parameters, statement names). */
const FRONTEND_KEEP = new Set(['Q', 'P', 'B', 'C']);

function frontendKeep(type: string): number {
  return FRONTEND_KEEP.has(type) ? Infinity : 0;
}

/** How much of a backend message to keep, given the values still to capture for its statement. */
function backendKeep(type: string, captureRoom: number): number {
  switch (type) {
    case 'D':
      // The field count is enough to derive the payload bytes; captured rows need all of it.
      return Math.max(2, captureRoom);
    case 'T':
      return captureRoom;
    case 'C':
    case 'E':
    case 'Z':
      return Infinity;
    default:
      return 0;
  }
}

/**
 * @example
 * const tracker = new StatementTracker(() => currentTurn, (s) => log.push(s));
 * socket.on('data', (c) => tracker.fromServer(c));  // and tracker.fromClient(c) on writes
 */
export class StatementTracker<Tag> {
  private readonly frontend: MessageFramer;
  private readonly backend: MessageFramer;
  private readonly pending: Pending<Tag>[] = [];
  /** Named prepared statements: name → SQL. The unnamed one is ''. */
  private readonly prepared = new Map<string, string>();
  /** Extended-protocol parts accumulated since the last Sync. */
  private batchSql: string[] = [];
  private batchParams: (string | null)[] = [];
  private readonly now: () => number;

  /** Statements outstanding on every connection that shares this counter (round trips span them). */
  private readonly inFlight: { count: number };

  private readonly capture: (tag: Tag) => boolean;
  private readonly captureLimit: number;

  constructor(
    private readonly tagNow: () => Tag,
    private readonly onStatement: (statement: TrackedStatement<Tag>) => void,
    options: StatementTrackerOptions<Tag> = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.inFlight = options.sharedInFlight ?? { count: 0 };
    const capture = options.captureValues ?? false;
    this.capture = typeof capture === 'function' ? capture : () => capture;
    this.captureLimit = Math.max(0, options.captureLimitBytes ?? DEFAULT_CAPTURE_LIMIT_BYTES);
    this.frontend = new MessageFramer(frontendKeep, (m) => this.onFrontend(m));
    // Messages arrive in order, so the oldest pending statement is the one this message is for.
    this.backend = new MessageFramer(
      (type) => backendKeep(type, this.captureRoom()),
      (m) => this.onBackend(m),
    );
  }

  /** Bytes the oldest pending statement may still capture (0 when it captures nothing). */
  private captureRoom(): number {
    const values = this.pending[0]?.values;
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

  /** Statements sent and not yet closed by the server. */
  get outstanding(): number {
    return this.pending.length;
  }

  private enqueue(sql: string, params: (string | null)[]): void {
    const startsRoundTrip = this.inFlight.count === 0;
    this.inFlight.count += 1;
    const tag = this.tagNow();
    const pending: Pending<Tag> = {
      sql,
      params,
      sentAt: this.now(),
      startsRoundTrip,
      rows: 0,
      wireBytes: 0,
      payloadBytes: 0,
      command: null,
      error: null,
      tag,
    };
    // Only when capturing, so statements measured without it look exactly as before.
    if (this.capture(tag)) pending.values = { results: [], truncated: false, bytes: 0 };
    this.pending.push(pending);
  }

  private onFrontend(m: FramedMessage): void {
    switch (m.type) {
      case 'Q':
        this.enqueue(readCString(m.head, 0)[0], []);
        break;
      case 'P': {
        const [name, next] = readCString(m.head, 0);
        const [sql] = readCString(m.head, next);
        this.prepared.set(name, sql);
        break;
      }
      case 'B': {
        const { statement, params } = parseBind(m.head);
        this.batchSql.push(this.prepared.get(statement) ?? `/* prepared statement "${statement}" */`);
        this.batchParams.push(...params);
        break;
      }
      case 'C': {
        // Close: 'S' statement or 'P' portal, then the name.
        if (m.head[0] === 0x53) this.prepared.delete(readCString(m.head, 1)[0]);
        break;
      }
      case 'S': {
        const sql = this.batchSql.length > 0 ? this.batchSql.join(';\n') : '/* sync */';
        this.enqueue(sql, this.batchParams);
        this.batchSql = [];
        this.batchParams = [];
        break;
      }
      default:
        break;
    }
  }

  private onBackend(m: FramedMessage): void {
    const head = this.pending[0];
    // Asynchronous messages (notices, parameter status) with nothing outstanding belong to no statement.
    if (head === undefined) return;
    head.wireBytes += m.wireBytes;
    switch (m.type) {
      case 'T':
        if (head.values !== undefined) captureDescription(head.values, m);
        break;
      case 'D':
        head.rows += 1;
        head.payloadBytes += dataRowPayloadBytes(m.bodyBytes, m.head.readInt16BE(0));
        if (head.values !== undefined) captureRow(head.values, m);
        break;
      case 'd':
        // COPY … TO STDOUT: one CopyData message per row in text and CSV formats.
        head.rows += 1;
        head.payloadBytes += m.bodyBytes;
        break;
      case 'C':
        head.command = readCString(m.head, 0)[0];
        break;
      case 'E':
        head.error = parseErrorMessage(m.head);
        break;
      case 'Z': {
        this.pending.shift();
        this.inFlight.count -= 1;
        // Completed in place: no copy of the record on the hot path.
        const done = head as TrackedStatement<Tag>;
        done.doneAt = this.now();
        this.onStatement(done);
        break;
      }
      default:
        break;
    }
  }
}

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

/** Parses a Bind body far enough to recover the statement name and text parameters. */
function parseBind(body: Buffer): { statement: string; params: (string | null)[] } {
  let offset = readCString(body, 0)[1]; // portal name
  const [statement, afterName] = readCString(body, offset);
  offset = afterName;
  const formatCount = body.readInt16BE(offset);
  offset += 2;
  const formats: number[] = [];
  for (let i = 0; i < formatCount; i++, offset += 2) formats.push(body.readInt16BE(offset));
  const paramCount = body.readInt16BE(offset);
  offset += 2;
  const params: (string | null)[] = [];
  for (let i = 0; i < paramCount; i++) {
    const length = body.readInt32BE(offset);
    offset += 4;
    if (length < 0) {
      params.push(null);
      continue;
    }
    const format = formatCount === 0 ? 0 : formatCount === 1 ? formats[0] : formats[i];
    params.push(format === 1 ? `<binary ${length} bytes>` : body.toString('utf8', offset, offset + length));
    offset += length;
  }
  return { statement, params };
}

/** The `M` (message) field of an ErrorResponse, prefixed by its SQLSTATE. */
function parseErrorMessage(body: Buffer): string {
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
