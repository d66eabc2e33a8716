/**
 * A profiling session: one PostgreSQL connection, tapped at the wire, with knex bound to it.
 * `measure` runs a function inside a READ ONLY transaction and returns exactly the statements
 * that function sent — not the transaction's own BEGIN/COMMIT.
 */
import { quietKnexLog } from '../db/knex-quiet.js';
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { initFingerprinting } from './analysis/fingerprint.js';
import { ENTRY_DEPTH, captureCallSite, queryWithCallSite, traceCallSites, traceKnexCallSites } from './call-site.js';
import { DatabaseError, maskSecrets, maskUrl } from './errors.js';
import { Recorder } from './recorder.js';
import { TurnStopped, formatDuration, sendCancelRequest, transactionControl } from './turn-guard.js';
import type { StatementRecord, StrategyDb } from './types.js';

/** What one measured call sent and how long it took. */
export interface Measurement<T> {
  /** The function's result, or undefined when it threw. */
  value: T | undefined;
  /** What it threw, if it did. */
  error: unknown;
  statements: StatementRecord[];
  /** Wall time of the call, monotonic clock, milliseconds. */
  latencyMs: number;
}

/** Limits of one measured call. */
export interface MeasureOptions {
  /**
   * Stop the call after this long (milliseconds; 0 or absent: no limit): the statement in
   * flight is cancelled, the transaction rolled back, and the call reported as timed out.
   */
  timeoutMs?: number;
  /** Aborting stops the call the same way, reported as interrupted. */
  signal?: AbortSignal;
  /**
   * Runs after a call that succeeded, still inside its transaction, once its statements are
   * collected: for extra statements (what-if rewrites) that must see the same data but never
   * count in the measurement. Its failures are its own: they never fail the call.
   */
  after?: (call: AfterCall) => Promise<void>;
  /**
   * Capture each statement's call site (default true). A capture costs the measured call a few
   * microseconds per statement: a runner that builds a turn once untimed turns it off for the
   * timed builds and takes the call sites from the untimed one (`copyCallSites`).
   */
  callSites?: boolean;
}

/** What {@link MeasureOptions.after} receives. */
export interface AfterCall {
  /** What the measured function returned. */
  value: unknown;
  /** Its statements, as the measurement reports them. */
  statements: StatementRecord[];
  /** The measured call's abort signal: stop sending once it aborts. */
  signal?: AbortSignal;
  /**
   * Runs `fn` inside a savepoint of the same transaction and returns its own statements,
   * recorded on the same tap but apart from the measured call's. A failed statement rolls
   * back to the savepoint, so the transaction stays usable.
   */
  record<R>(fn: (db: StrategyDb) => Promise<R>): Promise<Measurement<R>>;
}

/** Options of {@link openSession}. */
export interface SessionOptions {
  /** Per-statement timeout the server enforces, milliseconds (default 5 000). */
  statementTimeoutMs?: number;
  /** Lock wait timeout, milliseconds (default 1 000): profiling must never queue behind a writer for long. */
  lockTimeoutMs?: number;
  /** Connect timeout, milliseconds (default 10 000). */
  connectTimeoutMs?: number;
  /**
   * Make every transaction of the connection read-only (`default_transaction_read_only`),
   * not only the measured ones (default true). Only ctxbench's own tests turn it off.
   */
  readOnly?: boolean;
  /**
   * The server, when it cannot cancel a statement itself (the embedded database): a statement
   * that must stop is stopped through it instead of by a CancelRequest. Set by openDatabase.
   */
  uncancellable?: UncancellableServer;
}

/** A server that cannot cancel a running statement, so ctxbench stops it from outside (see EmbeddedServer). */
export interface UncancellableServer {
  /** Stops the statement running now, if any (restarting the server with `restart`); true if one was. */
  stopStatement(restart: boolean): Promise<boolean>;
  /** Resolves once the server takes connections again after a restart. */
  ready(): Promise<void>;
  /** How many statements it stopped so far, including those its own statement timeout stopped. */
  readonly stops: number;
}

/** The statement timeout of a session, milliseconds, when none is given. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;

/** The session settings, as one statement run on every new connection before it is tapped. */
function sessionSettings(options: SessionOptions): string {
  const ms = (value: number | undefined, fallback: number) => Math.max(0, Math.floor(value ?? fallback));
  const settings = [
    `set statement_timeout = ${ms(options.statementTimeoutMs, DEFAULT_STATEMENT_TIMEOUT_MS)}`,
    `set lock_timeout = ${ms(options.lockTimeoutMs, 1_000)}`,
    // Also sent at startup; set again because not every server applies startup parameters.
    `set application_name = 'ctxbench'`,
  ];
  if (options.readOnly !== false) settings.push('set default_transaction_read_only = on');
  return settings.join('; ');
}

/**
 * An open, instrumented connection.
 *
 * @example
 * const session = await openSession('postgres://postgres@127.0.0.1:5432/test');
 * const { statements } = await session.measure((db) => db.query('select 1'));
 * await session.close();
 */
export interface ProfilingSession {
  /** What strategies receive; every statement sent through it is measured while inside `measure`. */
  readonly db: StrategyDb;
  /** knex on the same connection, for ctxbench's own unmeasured statements. */
  readonly control: Knex;
  /** `server_version` as the server reports it. */
  readonly serverVersion: string;
  /**
   * Runs `fn` in a READ ONLY transaction and returns what it sent. A statement that would end
   * or change that transaction (COMMIT, BEGIN, SET TRANSACTION …) is never sent: `fn` gets an
   * error and the measurement a {@link TurnStopped} error (`read-only`), as it does when the
   * server reports the transaction gone. A time limit or an abort also ends with a TurnStopped.
   */
  measure<T>(fn: (db: StrategyDb) => Promise<T>, options?: MeasureOptions): Promise<Measurement<T>>;
  close(): Promise<void>;
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(
      () => (clearTimeout(timer), resolve(true)),
      () => (clearTimeout(timer), resolve(true)),
    );
  });
}

/** Whether pg has a statement of this client sent or queued and not yet answered (pg keeps no public flag). */
function busy(client: pg.Client): boolean {
  // `_queryQueue`: pg 8.23 deprecates the `queryQueue` getter, and warns on stderr when it is read.
  const c = client as unknown as { _activeQuery?: unknown; _queryQueue?: unknown[] };
  return Boolean(c._activeQuery) || (c._queryQueue?.length ?? 0) > 0;
}

/**
 * Watches a connection during measured calls: refuses, before sending, any statement that
 * would leave the READ ONLY transaction, and notes a ReadyForQuery saying no transaction is
 * open (the net under that check: whatever got past it ended the transaction).
 */
class TransactionGuard {
  active = false;
  escape: TurnStopped | null = null;

  start(): void {
    this.active = true;
    this.escape = null;
  }

  watch(client: pg.Client): void {
    const original = client.query;
    const guard = this;
    client.query = function (this: pg.Client, config: unknown, ...rest: unknown[]) {
      const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
      const offending = guard.active && typeof text === 'string' ? transactionControl(text) : null;
      if (offending !== null) {
        guard.escape ??= new TurnStopped(
          'read-only',
          'tried to write by leaving the read-only transaction',
          `it sent "${offending}", which ctxbench did not forward`,
        );
        const error = new Error(`ctxbench refused "${offending}": a strategy runs inside a READ ONLY transaction it may not end or change`);
        const callback = rest.find((r) => typeof r === 'function') as ((e: Error) => void) | undefined;
        if (callback === undefined) return Promise.reject(error);
        process.nextTick(callback, error);
        return undefined;
      }
      return (original as (...args: unknown[]) => unknown).apply(this, [config, ...rest]);
    } as typeof client.query;
    const connection = (client as unknown as { connection?: NodeJS.EventEmitter }).connection;
    connection?.on('readyForQuery', (message: { status?: string }) => {
      if (guard.active && message.status === 'I') {
        guard.escape ??= new TurnStopped(
          'read-only',
          'tried to write by leaving the read-only transaction',
          'the server reported no transaction open inside the turn',
        );
      }
    });
  }
}

/**
 * Each connection's prefix for statement names: a named prepared statement lives in the server
 * session, which on PGlite every connection shares, so a name is made the connection's own
 * (`1a2b3c4d_name`) and a later connection never meets its predecessor's. Random rather than
 * counted, so a connection pooler's reused session cannot hold it either; of fixed length, so
 * the bytes a statement sends never depend on how many connections came before; first, as the
 * server keeps only a name's first 63 bytes.
 */
const statementPrefixes = new WeakMap<pg.Client, string>();

/**
 * Opens a session on `url`. Connection failures become a DatabaseError (exit 3) with the URL masked.
 *
 * @example
 * const session = await openSession('postgres://postgres@127.0.0.1:5432/app');
 * const { statements } = await session.measure((db) => db.query('select 1'));
 * await session.close();
 */
export async function openSession(url: string, options: SessionOptions = {}): Promise<ProfilingSession> {
  // Fingerprints come from the PostgreSQL parser (WASM): load it once, before any recording ends.
  await initFingerprinting();
  const recorder = new Recorder();
  const guard = new TransactionGuard();
  // The connection's pg.Client (knex holds exactly one), for cancelling and rolling back a stopped call.
  let current: pg.Client | null = null;
  // Whether the call being measured captures call sites (MeasureOptions.callSites).
  let sitesWanted = true;
  const capturing = (): boolean => sitesWanted && recorder.recording;
  const knex = knexFactory({
    log: quietKnexLog,
    client: 'pg',
    connection: {
      connectionString: url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: 'ctxbench',
    },
    // Exactly one connection: every statement of a turn travels on the tapped socket, in order.
    // Settings go on each new connection (before the tap), so a reconnect keeps them.
    pool: {
      min: 0,
      max: 1,
      idleTimeoutMillis: 24 * 3600 * 1000,
      afterCreate(connection: pg.Client, done: (err: Error | null, connection: pg.Client) => void) {
        connection.query(sessionSettings(options), (error: Error | null) => {
          if (error) return done(error, connection);
          statementPrefixes.set(connection, randomBytes(4).toString('hex'));
          recorder.attach(pgClientSocket(connection));
          guard.watch(connection);
          // Outermost, so the guard's own frame is not among the ones captured.
          traceCallSites(connection, capturing);
          current = connection;
          done(null, connection);
        });
      },
    },
    acquireConnectionTimeout: options.connectTimeoutMs ?? 10_000,
  });

  let serverVersion: string;
  try {
    const result = await knex.raw('show server_version');
    serverVersion = String(result.rows[0].server_version);
  } catch (error) {
    await knex.destroy().catch(() => undefined);
    throw connectionError(url, error);
  }

  // Where a strategy's knex query enters the driver: fewer frames to capture than at pg's query.
  traceKnexCallSites(knex, capturing);

  const db: StrategyDb = {
    knex,
    async query(sql, params, options) {
      // Captured here, before the await that would leave only ctxbench's frames above pg's query.
      const site = capturing() ? captureCallSite(db.query, ENTRY_DEPTH) : null;
      const client: pg.Client = await knex.client.acquireConnection();
      try {
        const values = params === undefined ? undefined : [...params];
        const config = site === null ? { text: sql, values } : (queryWithCallSite(sql, values, site) as pg.QueryConfig);
        const result = await client.query(
          options?.name === undefined ? config : { ...config, name: `${statementPrefixes.get(client)}_${options.name}` },
        );
        return { rows: result.rows, rowCount: result.rowCount };
      } finally {
        await knex.client.releaseConnection(client);
      }
    },
    section: (name, fn) => recorder.section(name, fn),
  };

  return {
    db,
    control: knex,
    serverVersion,
    async measure<T>(fn: (db: StrategyDb) => Promise<T>, limits: MeasureOptions = {}): Promise<Measurement<T>> {
      const server = options.uncancellable;
      if (server !== undefined) await server.ready();
      const stopsBefore = server?.stops ?? 0;
      await knex.raw('begin transaction read only');
      sitesWanted = limits.callSites !== false;
      const recording = recorder.start();
      let value: T | undefined;
      let error: unknown;
      let stopped: TurnStopped | null = null;
      const { promise: stop, clear } = stopper(limits);
      guard.start();
      const started = performance.now();
      const outcome = await Promise.race([
        Promise.resolve()
          .then(() => fn(db))
          .then(
            (v) => ({ value: v }),
            (e: unknown) => ({ error: e }),
          ),
        stop,
      ]);
      const latencyMs = performance.now() - started;
      clear();
      guard.active = false;
      if (outcome instanceof TurnStopped) stopped = outcome;
      else if ('error' in outcome) error = outcome.error;
      else value = outcome.value;
      if (stopped === null && server !== undefined && server.stops > stopsBefore) {
        const limit = formatDuration(options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS);
        stopped = new TurnStopped(
          'timeout',
          `ran a statement past the statement timeout (${limit})`,
          'the embedded database cannot cancel a statement, so ctxbench restarted it',
        );
      }
      if (guard.escape !== null) {
        error = guard.escape;
        value = undefined;
      }
      if (stopped !== null) {
        // The function may never return: cancel what it has in flight and end the transaction ourselves.
        const dropped = await cancelInFlight(stopped.reason);
        // A dropped connection answers nothing more: no waiting for it.
        await recording.settle(dropped ? 0 : 2_000);
        const statements = recording.stop();
        await rollBackHard();
        return { value: undefined, error: stopped, statements, latencyMs };
      }
      await recording.settle();
      await recording.settle();
      const statements = recording.stop();
      if (error === undefined && limits.after !== undefined && !limits.signal?.aborted) {
        await limits.after({ value, statements, signal: limits.signal, record: recordApart }).catch(() => undefined);
      }
      await knex.raw(error === undefined ? 'commit' : 'rollback');
      return { value, error, statements, latencyMs };
    },
    async close() {
      recorder.detachAll();
      // A stopped strategy may still hold the connection, and knex waits for it: not forever.
      if (!(await within(knex.destroy(), 5_000)) && current !== null) pgClientSocket(current).destroy();
    },
  };

  /** {@link AfterCall.record}: a savepoint, a recording of its own, never the measured call's. */
  async function recordApart<R>(fn: (db: StrategyDb) => Promise<R>): Promise<Measurement<R>> {
    await knex.raw('savepoint ctxbench_after');
    const recording = recorder.start();
    let value: R | undefined;
    let error: unknown;
    const started = performance.now();
    try {
      value = await fn(db);
    } catch (e) {
      error = e;
    }
    const latencyMs = performance.now() - started;
    await recording.settle();
    const statements = recording.stop();
    await knex.raw(error === undefined ? 'release savepoint ctxbench_after' : 'rollback to savepoint ctxbench_after');
    return { value, error, statements, latencyMs };
  }

  /**
   * Cancels the statement in flight, if any, and waits (bounded) for its answer; true when the
   * connection had to be dropped instead.
   */
  async function cancelInFlight(reason: TurnStopped['reason']): Promise<boolean> {
    const client = current;
    if (client === null || !busy(client)) return false;
    const server = options.uncancellable;
    if (server !== undefined) {
      // It cannot cancel: give the statement a moment to end on its own, then stop it from
      // outside. Its connection is gone then (the server restarted): drop ours.
      const until = performance.now() + 2_000;
      for (let waited = 0; busy(client) && performance.now() < until; waited += 1) {
        if (waited >= 10 && (await server.stopStatement(reason === 'timeout'))) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      if (!busy(client)) return false;
      pgClientSocket(client).destroy();
      return true;
    }
    const c = client as unknown as { host?: string; port?: number; processID?: number | null; secretKey?: number | null };
    if (c.processID != null && c.secretKey != null && c.host !== undefined && c.port !== undefined) {
      await sendCancelRequest({ host: c.host, port: Number(c.port), processId: c.processID, secretKey: c.secretKey });
    }
    const until = performance.now() + 2_000;
    while (busy(client) && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    return false;
  }

  /** Rolls back on the connection itself (a stopped strategy may hold knex's); bounded. */
  async function rollBackHard(): Promise<void> {
    const client = current;
    if (client === null) return;
    // If the server does not answer, drop the connection: the server then rolls back itself.
    if (!(await within(client.query('rollback'), 5_000))) pgClientSocket(client).destroy();
  }
}

/** A promise that resolves to a TurnStopped when the time limit passes or the signal aborts. */
function stopper(options: MeasureOptions): { promise: Promise<TurnStopped>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const promise = new Promise<TurnStopped>((resolve) => {
    const limit = options.timeoutMs ?? 0;
    if (limit > 0) timer = setTimeout(() => resolve(new TurnStopped('timeout', `timed out after ${formatDuration(limit)}`)), limit);
    if (options.signal !== undefined) {
      onAbort = () => resolve(new TurnStopped('interrupted', 'was interrupted'));
      if (options.signal.aborted) onAbort();
      else options.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  return {
    promise,
    clear() {
      clearTimeout(timer);
      if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** The socket of a connected pg.Client (pg keeps it on `connection.stream`). */
export function pgClientSocket(client: pg.Client): Duplex {
  const stream = (client as unknown as { connection?: { stream?: Duplex } }).connection?.stream;
  if (stream === undefined) throw new TypeError('not a connected pg.Client: it has no connection.stream');
  return stream;
}

/** Maps a driver connection failure to one line naming what failed, password masked. */
export function connectionError(url: string, error: unknown): DatabaseError {
  const e = error as { code?: string; message?: string };
  const where = maskUrl(url);
  const detail = maskSecrets(e?.message ?? String(error));
  switch (e?.code) {
    case 'ECONNREFUSED':
      return new DatabaseError(`cannot connect to ${where}: connection refused (is the server running?)`, { cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new DatabaseError(`cannot connect to ${where}: host not found`, { cause: error });
    case '28P01':
    case '28000':
      return new DatabaseError(`cannot connect to ${where}: authentication failed (${detail})`, { cause: error });
    case '3D000':
      return new DatabaseError(`cannot connect to ${where}: ${detail}`, { cause: error });
    default:
      if (/timeout/i.test(detail)) return new DatabaseError(`cannot connect to ${where}: timed out`, { cause: error });
      return new DatabaseError(`cannot connect to ${where}: ${detail}`, { cause: error });
  }
}
