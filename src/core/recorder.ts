/**
 * The recorder: taps any number of connection sockets and collects, while a recording is
 * open, every statement sent on them as a StatementRecord. Sections label statements by the
 * async context that sent them.
 *
 * The taps only note what passes (a copy of the chunk and the time): framing and tracking run
 * when a recording is read (settle, stop), or as chunks come once 1 MB waits or a settle() is
 * pending. The measured code pays for the note, not for the parsing, and memory stays bounded.
 *
 * On request it also captures what statements returned (column names and field values), for
 * analyses such as unused columns. Those values stay outside the StatementRecord — looked up
 * with {@link statementValues} — so reports and the JSON output do not carry result sets.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Duplex } from 'node:stream';
import { fingerprintSql, initFingerprinting } from './analysis/fingerprint.js';
import { parseSqlCommenter } from './analysis/sqlcommenter.js';
import { currentCallSite, resolveCallSite, type PendingCallSite } from './call-site.js';
import type { StatementRecord } from './types.js';
import { StatementTracker, type CapturedValues, type TrackedStatement } from './wire/statement-tracker.js';
import { tapSocket } from './wire/socket-tap.js';

interface Tag {
  collector: TrackedStatement<Tag>[] | null;
  section: string | null;
  capture: boolean;
  /** Where the statements of the chunk were sent from (a traced driver's `query`), if known. */
  site: PendingCallSite | null;
}

/** A chunk a tapped socket sent or received, waiting to be parsed. */
interface Backlogged {
  tracker: StatementTracker<Tag>;
  fromClient: boolean;
  chunk: Uint8Array;
  /** Monotonic time it passed the tap. */
  at: number;
  /** Client chunks: what the statements in it belong to, as the sending context said (the tag without its count). */
  context: Tag | null;
}

/** A statement no recording collects (sent while none was open). */
const NO_CONTEXT: Tag = { collector: null, section: null, capture: false, site: null };

/** Past this many bytes waiting, chunks are parsed as they come: memory stays bounded whatever the result size. */
const BACKLOG_LIMIT_BYTES = 1024 * 1024;

/** Options of a {@link Recorder}. */
export interface RecorderOptions {
  /**
   * Capture column names and field values of every recorded statement (see
   * {@link statementValues}). Off by default: it holds result sets in memory. To capture only
   * around some calls, use {@link withValueCapture} instead.
   */
  captureValues?: boolean;
  /** Per-statement limit of captured bytes (default 4 MB); past it the capture is marked truncated. */
  captureLimitBytes?: number;
}

/** Async contexts inside {@link withValueCapture}: any recorder captures the statements they send. */
const captureScope = new AsyncLocalStorage<boolean>();

/** Captured values by record: a WeakMap, so they go when the record does. */
const capturedValues = new WeakMap<StatementRecord, CapturedValues>();

/**
 * Runs `fn` with value capture on for the statements it sends, whatever recorder taps their
 * connection — for code that reaches a session but not its recorder.
 *
 * @example
 * const m = await withValueCapture(() => session.measure((db) => strategy.build(db, turn)));
 * const values = statementValues(m.statements[0]!);
 */
export function withValueCapture<T>(fn: () => Promise<T> | PromiseLike<T>): Promise<T> {
  // Await inside the context: a knex builder is a thenable that only runs when awaited.
  return captureScope.run(true, async () => await fn());
}

/**
 * The column names and field values a recorded statement returned, when they were captured
 * ({@link RecorderOptions.captureValues} or {@link withValueCapture}); otherwise undefined.
 *
 * @example
 * const values = statementValues(record);
 * if (values !== undefined) console.log(values.results[0]?.columns.map((c) => c.name));
 */
export function statementValues(record: StatementRecord): CapturedValues | undefined {
  return capturedValues.get(record);
}

/** An open recording: `stop()` returns what was sent since `start()`. */
export interface Recording {
  /**
   * Resolves when every statement this recording saw sent has been answered (or after
   * `timeoutMs`). A driver may reject a failed query at its ErrorResponse, before the
   * ReadyForQuery that closes the statement: settle before stopping to still count it.
   */
  settle(timeoutMs?: number): Promise<void>;
  stop(): StatementRecord[];
}

/**
 * @example
 * const recorder = new Recorder();
 * const untap = recorder.attach(socket);
 * const rec = recorder.start();
 * await client.query('select 1');
 * const statements = rec.stop();
 */
export class Recorder {
  private active: TrackedStatement<Tag>[] | null = null;
  private readonly sections = new AsyncLocalStorage<string>();
  /** Shared by every tapped connection: overlapping waits on two connections are one round trip. */
  private readonly inFlight = { count: 0 };
  private readonly untaps = new Set<() => void>();
  /** Statements sent and not yet answered, per recording (its collector), with who waits for them. */
  private readonly open = new Map<TrackedStatement<Tag>[], { count: number; waiters: (() => void)[] }>();
  /**
   * Chunks not parsed yet, in the order they passed the taps (of all sockets: round trips span
   * them). The tap only notes a chunk; parsing waits until a recording is read (settle, stop),
   * so it costs the measured code nothing but the note.
   */
  private backlog: Backlogged[] = [];
  private backlogBytes = 0;
  /** While parsing the backlog: the time and sending context of the chunk being parsed. */
  private replayAt = 0;
  private replayContext: Tag | null = null;
  /** settle() calls waiting: while any does, chunks are parsed as they come. */
  private settling = 0;

  constructor(private readonly options: RecorderOptions = {}) {
    // Recordings end with fingerprinting: start loading the parser now, so it is likely ready.
    void initFingerprinting();
  }

  /** Taps a connected socket (past the startup phase). Returns the function that untaps it. */
  attach(socket: Duplex): () => void {
    const captureAll = this.options.captureValues === true;
    const tracker = new StatementTracker<Tag>(
      () => {
        // The statements of one chunk share its context (tags are only read).
        const context = this.replayContext ?? NO_CONTEXT;
        this.sent(context.collector);
        return context;
      },
      (statement) => {
        const collector = statement.tag.collector;
        if (collector === null) return;
        collector.push(statement);
        const entry = this.open.get(collector);
        if (entry !== undefined && --entry.count === 0) for (const wake of entry.waiters.splice(0)) wake();
      },
      {
        now: () => this.replayAt,
        sharedInFlight: this.inFlight,
        captureValues: (tag) => tag.capture,
        captureLimitBytes: this.options.captureLimitBytes,
      },
    );
    const untap = tapSocket(socket, {
      fromClient: (chunk) => {
        const active = this.active;
        // The sending context is read now, while the write runs in it.
        const context: Tag = {
          collector: active,
          section: this.sections.getStore() ?? null,
          // Nothing to keep for a statement no recording will collect.
          capture: active !== null && (captureAll || captureScope.getStore() === true),
          site: active === null ? null : currentCallSite(),
        };
        // Copies, here and below: drivers reuse buffers (pg's parser compacts a partial message
        // into the chunk it was read in), and the chunk is parsed later.
        this.note(tracker, true, Buffer.from(chunk), context);
      },
      fromServer: (chunk) => this.note(tracker, false, Buffer.from(chunk), null),
    });
    const once = (): void => {
      if (this.untaps.delete(once)) untap();
    };
    this.untaps.add(once);
    return once;
  }

  private note(tracker: StatementTracker<Tag>, fromClient: boolean, chunk: Uint8Array, context: Tag | null): void {
    this.backlog.push({ tracker, fromClient, chunk, at: performance.now(), context });
    this.backlogBytes += chunk.byteLength;
    if (this.settling > 0 || this.backlogBytes > BACKLOG_LIMIT_BYTES) this.drain();
  }

  /** Parses every noted chunk, in the order the taps saw them, each at the time it passed. */
  private drain(): void {
    const backlog = this.backlog;
    this.backlog = [];
    this.backlogBytes = 0;
    try {
      for (const entry of backlog) {
        this.replayAt = entry.at;
        this.replayContext = entry.context;
        if (entry.fromClient) entry.tracker.fromClient(entry.chunk);
        else entry.tracker.fromServer(entry.chunk);
      }
    } finally {
      this.replayContext = null;
    }
  }

  /** Notes one more statement outstanding for `collector`. */
  private sent(collector: TrackedStatement<Tag>[] | null): void {
    if (collector !== null) {
      const entry = this.open.get(collector) ?? { count: 0, waiters: [] };
      entry.count += 1;
      this.open.set(collector, entry);
    }
  }

  /** Whether a recording is open: only then is a call site worth capturing. */
  get recording(): boolean {
    return this.active !== null;
  }

  /** Runs `fn` with its statements labelled `name` (nested sections: the innermost wins). */
  section<T>(name: string, fn: () => Promise<T> | PromiseLike<T>): Promise<T> {
    // Await inside the context: a knex builder is a thenable that only runs when awaited.
    return this.sections.run(name, async () => await fn());
  }

  /** Opens a recording. Only one is open at a time; a new one replaces the old. */
  start(): Recording {
    const collector: TrackedStatement<Tag>[] = [];
    this.active = collector;
    return {
      settle: (timeoutMs = 10_000) =>
        new Promise<void>((resolve) => {
          this.drain();
          const entry = this.open.get(collector);
          if (entry === undefined || entry.count === 0) return resolve();
          // Until then, parse chunks as they come, so the answers are seen when they arrive.
          this.settling += 1;
          const done = (): void => {
            clearTimeout(timer);
            this.settling -= 1;
            resolve();
          };
          const timer = setTimeout(() => {
            const at = entry.waiters.indexOf(done);
            if (at >= 0) entry.waiters.splice(at, 1);
            done();
          }, timeoutMs);
          entry.waiters.push(done);
        }),
      stop: () => {
        this.drain();
        if (this.active === collector) this.active = null;
        this.open.delete(collector);
        return toRecords(collector);
      },
    };
  }

  /** Untaps every socket. */
  detachAll(): void {
    for (const untap of [...this.untaps]) untap();
  }
}

/** Numbers the statements of one recording (in the order sent) and fingerprints them. */
function toRecords(tracked: readonly TrackedStatement<Tag>[]): StatementRecord[] {
  // In the order sent, not finished: on several connections a later statement can finish
  // first, and numbering by completion would split one shared wait into two round trips.
  const bySend = [...tracked].sort((a, b) => a.sentAt - b.sentAt);
  const records = statementRecords(
    bySend,
    (s) => s.tag.section,
    (s) => resolveCallSite(s.tag.site),
  );
  bySend.forEach((s, i) => {
    if (s.values !== undefined) capturedValues.set(records[i]!, s.values);
  });
  return records;
}

/**
 * The records of statements given in the order sent, however they were tracked (in process or
 * by the recording proxy): numbered from 1, each with the round trip it travelled in — a new
 * one whenever nothing was outstanding when it was sent — its fingerprint, its call site
 * (`callSite`, null when unknown) and its sqlcommenter tags (only when its SQL has them).
 *
 * @example
 * const records = statementRecords(tracked, () => null);
 */
export function statementRecords<S extends Omit<TrackedStatement<unknown>, 'tag' | 'status'>>(
  statements: readonly S[],
  section: (s: S) => string | null,
  callSite: (s: S) => string | null = () => null,
): StatementRecord[] {
  let roundTrip = 0;
  return statements.map((s, i) => {
    if (s.startsRoundTrip || roundTrip === 0) roundTrip += 1;
    const tags = parseSqlCommenter(s.sql);
    return {
      seq: i + 1,
      sql: s.sql,
      params: s.params,
      fingerprint: fingerprintSql(s.sql),
      section: section(s),
      durationMs: s.doneAt - s.sentAt,
      rows: s.rows,
      wireBytes: s.wireBytes,
      sentBytes: s.sentBytes,
      payloadBytes: s.payloadBytes,
      command: s.command,
      error: s.error,
      roundTrip,
      callSite: callSite(s),
      ...(tags === null ? {} : { tags }),
    };
  });
}
