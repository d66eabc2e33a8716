/**
 * The recorder: taps any number of connection sockets and collects, while a recording is
 * open, every statement sent on them as a StatementRecord. Sections label statements by the
 * async context that sent them.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Duplex } from 'node:stream';
import { fingerprintSql } from './analysis/fingerprint.js';
import type { StatementRecord } from './types.js';
import { StatementTracker, type TrackedStatement } from './wire/statement-tracker.js';
import { tapSocket } from './wire/socket-tap.js';

interface Tag {
  collector: TrackedStatement<Tag>[] | null;
  section: string | null;
}

/** An open recording: `stop()` returns what was sent since `start()`. */
export interface Recording {
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

  /** Taps a connected socket (past the startup phase). Returns the function that untaps it. */
  attach(socket: Duplex): () => void {
    const tracker = new StatementTracker<Tag>(
      () => ({ collector: this.active, section: this.sections.getStore() ?? null }),
      (statement) => statement.tag.collector?.push(statement),
      { sharedInFlight: this.inFlight },
    );
    const untap = tapSocket(socket, tracker as StatementTracker<unknown>);
    const once = (): void => {
      if (this.untaps.delete(once)) untap();
    };
    this.untaps.add(once);
    return once;
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
      stop: () => {
        if (this.active === collector) this.active = null;
        return toRecords(collector);
      },
    };
  }

  /** Untaps every socket. */
  detachAll(): void {
    for (const untap of [...this.untaps]) untap();
  }
}

/** Numbers the statements of one recording and fingerprints them. */
function toRecords(tracked: readonly TrackedStatement<Tag>[]): StatementRecord[] {
  let roundTrip = 0;
  return tracked.map((s, i) => {
    if (s.startsRoundTrip || roundTrip === 0) roundTrip += 1;
    return {
      seq: i + 1,
      sql: s.sql,
      params: s.params,
      fingerprint: fingerprintSql(s.sql),
      section: s.tag.section,
      durationMs: s.doneAt - s.sentAt,
      rows: s.rows,
      wireBytes: s.wireBytes,
      payloadBytes: s.payloadBytes,
      command: s.command,
      error: s.error,
      roundTrip,
    };
  });
}
