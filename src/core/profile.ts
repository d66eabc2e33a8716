/**
 * Profiling a user's own code on a user's own connection: `profile` instruments a pg.Client,
 * a pg.Pool or a knex instance for the duration of one async call, measures every statement
 * that call sends at the wire, and leaves the driver exactly as it found it.
 *
 * Unlike `openSession`, nothing is wrapped in a transaction: the code is measured as it runs
 * in production, writes included.
 */
import { initFingerprinting } from './analysis/fingerprint.js';
import type { Knex } from 'knex';
import type pg from 'pg';
import type { Duplex } from 'node:stream';
import { findFindings } from './analysis/findings.js';
import { traceCallSites, traceKnexCallSites, tracePoolCallSites } from './call-site.js';
import { Recorder } from './recorder.js';
import { figuresOf } from './runner.js';
import { pgClientSocket } from './session.js';
import type { StatementRecord } from './types.js';
import type { Figures, Finding } from '../report/model.js';

/**
 * What {@link profile} can instrument: a connected pg.Client, a pg.Pool or a knex instance
 * (or a knex transaction) using the `pg` driver.
 *
 * @example
 * const target: ProfileTarget = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 */
export type ProfileTarget = pg.Client | pg.Pool | Knex;

/**
 * Options of {@link profile}.
 *
 * @example
 * const options: ProfileOptions = { client: pool };
 */
export interface ProfileOptions {
  /** The connection, pool or knex instance the profiled function sends its statements through. */
  client: ProfileTarget;
}

/**
 * What one profiled call sent, with the same figures and findings `compare` reports per turn.
 *
 * @example
 * const { value, queries, bytes, findings } = await profile(() => buildContext(db), { client: pool });
 */
export interface ProfileResult<T> extends Figures {
  /** What the function resolved to. */
  value: T;
  /** Every statement it sent, in the order the server finished them. */
  statements: StatementRecord[];
  /** Wall time of the call, monotonic clock, milliseconds. */
  latencyMs: number;
  /** N+1 groups, duplicate statements and `SELECT *` among its statements. */
  findings: Finding[];
}

/**
 * A profiled call that may have thrown: what the budget matcher needs to show the statements
 * sent before a failure. Not part of the public API.
 *
 * @example
 * const settled = await profileSettled(() => build(db), pool);
 * if (settled.threw) console.log(settled.error, settled.statements.length);
 */
export interface SettledProfile<T> {
  threw: boolean;
  value: T | undefined;
  error: unknown;
  statements: StatementRecord[];
  latencyMs: number;
}

/** Targets inside a profile call: two overlapping calls would see each other's statements. */
const busy = new WeakSet<object>();

/**
 * Runs `fn` with `options.client` instrumented and returns its value with what it sent to the
 * database. The client is restored exactly as it was whether `fn` resolves or throws; when it
 * throws, its error is rethrown.
 *
 * - pg.Client: must be connected and idle; its socket is tapped.
 * - pg.Pool: every client the pool hands out during the call is tapped (clients checked out
 *   before the call began are not: profile that client itself).
 * - knex: every connection `knex.client.acquireConnection` returns during the call is tapped.
 *
 * Calls on one target must not overlap (a TypeError says so): each would count the other's
 * statements.
 *
 * @example
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const { value: context, queries, roundTrips, bytes } = await profile(() => buildContext(pool, turn), { client: pool });
 */
export async function profile<T>(fn: () => Promise<T>, options: ProfileOptions): Promise<ProfileResult<T>> {
  const settled = await profileSettled(fn, options?.client);
  if (settled.threw) throw settled.error;
  return {
    value: settled.value as T,
    statements: settled.statements,
    ...figuresOf(settled.statements),
    latencyMs: settled.latencyMs,
    findings: findFindings([{ statements: settled.statements }]),
  };
}

/**
 * {@link profile} without the rethrow: a throwing `fn` settles with `threw` set and the
 * statements it sent until then. Instrumentation problems (a bad target, overlapping calls)
 * still throw.
 *
 * @example
 * const { threw, error, statements } = await profileSettled(() => build(db), pool);
 */
export async function profileSettled<T>(fn: () => Promise<T> | T, target: ProfileTarget): Promise<SettledProfile<T>> {
  if (typeof fn !== 'function') throw new TypeError(`profile: expected a function to profile, got ${describeValue(fn)}`);
  // Fingerprints come from the PostgreSQL parser: load it before the recording ends.
  await initFingerprinting();
  const kind = targetKind(target);
  const key = kind === 'knex' ? (target as Knex).client : (target as object);
  if (busy.has(key)) {
    throw new TypeError(
      `profile: this ${kind === 'knex' ? 'knex instance' : kind} is already being profiled; profile calls on one client cannot overlap`,
    );
  }

  const recorder = new Recorder();
  const problems: string[] = [];
  let restore: () => void = () => undefined;
  busy.add(key);
  try {
    restore = instrument(kind, target, recorder, problems);
    const recording = recorder.start();
    let threw = false;
    let value: T | undefined;
    let error: unknown;
    const started = performance.now();
    try {
      value = await fn();
    } catch (thrown) {
      threw = true;
      error = thrown;
    }
    const latencyMs = performance.now() - started;
    await recording.settle();
    const statements = recording.stop();
    if (problems.length > 0) throw new TypeError(`profile: ${problems.join('; ')}`);
    return { threw, value, error, statements, latencyMs };
  } finally {
    restore();
    recorder.detachAll();
    busy.delete(key);
  }
}

type TargetKind = 'pg.Client' | 'pg.Pool' | 'knex';

/**
 * Duck-typed rather than `instanceof`: the user's pg may be another copy than ours (a second
 * install, another version), and knex instances are functions, not class instances.
 */
function targetKind(target: unknown): TargetKind {
  if (typeof target === 'function') {
    const client = (target as unknown as { client?: { acquireConnection?: unknown } | null }).client;
    if (typeof client === 'object' && client !== null && typeof client.acquireConnection === 'function') return 'knex';
  }
  const t = target as unknown as Record<string, unknown> | null | undefined;
  if (typeof t === 'object' && t !== null && typeof t.query === 'function') {
    // A Client owns a wire connection; a Pool owns clients and counts them.
    if (typeof t.connection === 'object' && t.connection !== null) return 'pg.Client';
    if (typeof t.connect === 'function' && typeof t.on === 'function' && typeof t.totalCount === 'number') return 'pg.Pool';
  }
  throw new TypeError(`profile: options.client must be a pg.Client, a pg.Pool or a knex instance, got ${describeValue(target)}`);
}

/** Instruments the target; returns the function that puts every patched method back. */
function instrument(kind: TargetKind, target: ProfileTarget, recorder: Recorder, problems: string[]): () => void {
  switch (kind) {
    case 'pg.Client': {
      const client = target as pg.Client;
      const c = client as unknown as { _connected?: boolean; _ending?: boolean; readyForQuery?: boolean };
      if (c._connected !== true || c._ending === true) {
        throw new TypeError('profile: the pg.Client is not connected: await client.connect() before profiling it');
      }
      // Tapping mid-response would frame the rest of that response as new messages.
      if (c.readyForQuery === false) {
        throw new TypeError('profile: the pg.Client has a query in progress: profile it when it is idle');
      }
      recorder.attach(pgClientSocket(client));
      return traceCallSites(client, () => recorder.recording);
    }
    case 'pg.Pool': {
      const pool = target as pg.Pool;
      const untraced: (() => void)[] = [];
      const tapClient = tapOnce(recorder, problems, untraced);
      // 'acquire' fires for new and idle clients alike, synchronously before the caller gets
      // the client: the tap is in place before the first byte is written.
      pool.on('acquire', tapClient);
      untraced.push(tracePoolCallSites(pool, () => recorder.recording));
      return () => {
        pool.removeListener('acquire', tapClient);
        for (const untrace of untraced.reverse()) untrace();
      };
    }
    case 'knex': {
      const knexClient = (target as Knex).client as { acquireConnection: (...args: unknown[]) => Promise<unknown> };
      const hadOwn = Object.prototype.hasOwnProperty.call(knexClient, 'acquireConnection');
      const original = knexClient.acquireConnection;
      const untraced: (() => void)[] = [];
      const tapConnection = tapOnce(recorder, problems, untraced);
      const wrapped = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
        const connection = await original.apply(this, args);
        tapConnection(connection);
        return connection;
      };
      knexClient.acquireConnection = wrapped;
      untraced.push(traceKnexCallSites(target as Knex, () => recorder.recording));
      return () => {
        for (const untrace of untraced.reverse()) untrace();
        // Someone who patched it after us owns it now; overwriting would drop their patch.
        if (knexClient.acquireConnection !== wrapped) return;
        if (hadOwn) knexClient.acquireConnection = original;
        else delete (knexClient as { acquireConnection?: unknown }).acquireConnection;
      };
    }
  }
}

/**
 * A callback that taps each pg connection the first time it is handed out, and traces its
 * call sites (the undo goes to `untraced`). It runs inside the driver's own event or promise
 * chain, so it records problems instead of throwing into it.
 */
function tapOnce(recorder: Recorder, problems: string[], untraced: (() => void)[]): (connection: unknown) => void {
  const tapped = new WeakSet<object>();
  return (connection) => {
    if (typeof connection !== 'object' || connection === null || tapped.has(connection)) return;
    tapped.add(connection);
    let socket: Duplex;
    try {
      socket = pgClientSocket(connection as pg.Client);
    } catch {
      if (problems.length === 0) {
        problems.push(
          'a connection was handed out that has no socket to measure (only the pure-JavaScript pg driver is supported, not pg-native)',
        );
      }
      return;
    }
    recorder.attach(socket);
    untraced.push(traceCallSites(connection, () => recorder.recording));
  };
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return typeof value;
}
