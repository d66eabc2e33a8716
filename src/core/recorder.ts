/**
 * The recorder: taps any number of connection sockets and collects, while a recording is
 * open, every statement sent on them as a StatementRecord. Sections label statements by the
 * async context that sent them.
 *
 * On request it also captures what statements returned (column names and field values), for
 * analyses such as unused columns. Those values stay outside the StatementRecord — looked up
 * with {@link statementValues} — so reports and the JSON output do not carry result sets.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Duplex } from 'node:stream';
import { fingerprintSql, initFingerprinting } from './analysis/fingerprint.js';
import type { StatementRecord } from './types.js';
import { StatementTracker, type CapturedValues, type TrackedStatement } from './wire/statement-tracker.js';
import { tapSocket } from './wire/socket-tap.js';

interface Tag {
  collector: TrackedStatement<Tag>[] | null;
  section: string | null;
  capture: boolean;
}

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

  constructor(private readonly options: RecorderOptions = {}) {
    // Recordings end with fingerprinting: start loading the parser now, so it is likely ready.
    void initFingerprinting();
  }

  /** Taps a connected socket (past the startup phase). Returns the function that untaps it. */
  attach(socket: Duplex): () => void {
    const captureAll = this.options.captureValues === true;
    const tracker = new StatementTracker<Tag>(
      () => ({
        collector: this.sent(this.active),
        section: this.sections.getStore() ?? null,
        // Nothing to keep for a statement no recording will collect.
        capture: this.active !== null && (captureAll || captureScope.getStore() === true),
      }),
      (statement) => {
        const collector = statement.tag.collector;
        if (collector === null) return;
        collector.push(statement);
        const entry = this.open.get(collector);
        if (entry !== undefined && --entry.count === 0) for (const wake of entry.waiters.splice(0)) wake();
      },
      {
        sharedInFlight: this.inFlight,
        captureValues: (tag) => tag.capture,
        captureLimitBytes: this.options.captureLimitBytes,
      },
    );
    const untap = tapSocket(socket, tracker as StatementTracker<unknown>);
    const once = (): void => {
      if (this.untaps.delete(once)) untap();
    };
    this.untaps.add(once);
    return once;
  }

  /** Notes one more statement outstanding for `collector`; returns it (the tag's value). */
  private sent(collector: TrackedStatement<Tag>[] | null): TrackedStatement<Tag>[] | null {
    if (collector !== null) {
      const entry = this.open.get(collector) ?? { count: 0, waiters: [] };
      entry.count += 1;
      this.open.set(collector, entry);
    }
    return collector;
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
          const entry = this.open.get(collector);
          if (entry === undefined || entry.count === 0) return resolve();
          const timer = setTimeout(resolve, timeoutMs);
          entry.waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        }),
      stop: () => {
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
  let roundTrip = 0;
  // In the order sent, not finished: on several connections a later statement can finish
  // first, and numbering by completion would split one shared wait into two round trips.
  const bySend = [...tracked].sort((a, b) => a.sentAt - b.sentAt);
  return bySend.map((s, i) => {
    if (s.startsRoundTrip || roundTrip === 0) roundTrip += 1;
    const record: StatementRecord = {
      seq: i + 1,
      sql: s.sql,
      params: s.params,
      fingerprint: fingerprintSql(s.sql),
      section: s.tag.section,
      durationMs: s.doneAt - s.sentAt,
      rows: s.rows,
      wireBytes: s.wireBytes,
      sentBytes: s.sentBytes,
      payloadBytes: s.payloadBytes,
      command: s.command,
      error: s.error,
      roundTrip,
    };
    if (s.values !== undefined) capturedValues.set(record, s.values);
    return record;
  });
}
