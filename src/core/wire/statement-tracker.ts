/**
 * Turns the two framed message streams of one PostgreSQL connection into measured statements.
 *
 * A statement is what the server closes with one ReadyForQuery: a simple Query, or an
 * extended-protocol sequence ending in Sync. Every backend byte between two ReadyForQuery
 * messages belongs to the oldest statement still waiting, so pipelined statements are
 * attributed exactly. A statement sent while none is outstanding starts a new round trip;
 * trackers of several connections can share that count, so overlapping waits count once.
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
}

interface Pending<Tag> extends Omit<TrackedStatement<Tag>, 'doneAt'> {}

/** Frontend types whose whole body we need (SQL text, parameters, statement names). */
const FRONTEND_KEEP = new Set(['Q', 'P', 'B', 'C']);

function frontendKeep(type: string): number {
  return FRONTEND_KEEP.has(type) ? Infinity : 0;
}

function backendKeep(type: string): number {
  switch (type) {
    case 'D':
      return 2; // field count: enough to derive the payload bytes
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

  constructor(
    private readonly tagNow: () => Tag,
    private readonly onStatement: (statement: TrackedStatement<Tag>) => void,
    options: { now?: () => number; sharedInFlight?: { count: number } } = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.inFlight = options.sharedInFlight ?? { count: 0 };
    this.frontend = new MessageFramer(frontendKeep, (m) => this.onFrontend(m));
    this.backend = new MessageFramer(backendKeep, (m) => this.onBackend(m));
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
    this.pending.push({
      sql,
      params,
      sentAt: this.now(),
      startsRoundTrip,
      rows: 0,
      wireBytes: 0,
      payloadBytes: 0,
      command: null,
      error: null,
      tag: this.tagNow(),
    });
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
      case 'D':
        head.rows += 1;
        head.payloadBytes += dataRowPayloadBytes(m.bodyBytes, m.head.readInt16BE(0));
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
        this.onStatement({ ...head, doneAt: this.now() });
        break;
      }
      default:
        break;
    }
  }
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
