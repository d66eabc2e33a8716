/**
 * A profiling session: one PostgreSQL connection, tapped at the wire, with knex bound to it.
 * `measure` runs a function inside a READ ONLY transaction and returns exactly the statements
 * that function sent — not the transaction's own BEGIN/COMMIT.
 */
import { quietKnexLog } from '../db/knex-quiet.js';
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import type { Duplex } from 'node:stream';
import { initFingerprinting } from './analysis/fingerprint.js';
import { DatabaseError, maskSecrets, maskUrl } from './errors.js';
import { Recorder } from './recorder.js';
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
}

/** The session settings, as one statement run on every new connection before it is tapped. */
function sessionSettings(options: SessionOptions): string {
  const ms = (value: number | undefined, fallback: number) => Math.max(0, Math.floor(value ?? fallback));
  const settings = [
    `set statement_timeout = ${ms(options.statementTimeoutMs, 5_000)}`,
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
  measure<T>(fn: (db: StrategyDb) => Promise<T>): Promise<Measurement<T>>;
  close(): Promise<void>;
}

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
          recorder.attach(pgClientSocket(connection));
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

  const db: StrategyDb = {
    knex,
    async query(sql, params) {
      const client: pg.Client = await knex.client.acquireConnection();
      try {
        const result = await client.query(sql, params === undefined ? undefined : [...params]);
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
    async measure<T>(fn: (db: StrategyDb) => Promise<T>): Promise<Measurement<T>> {
      await knex.raw('begin transaction read only');
      const recording = recorder.start();
      let value: T | undefined;
      let error: unknown;
      const started = performance.now();
      try {
        value = await fn(db);
      } catch (thrown) {
        error = thrown;
      }
      const latencyMs = performance.now() - started;
      await recording.settle();
      await recording.settle();
      const statements = recording.stop();
      await knex.raw(error === undefined ? 'commit' : 'rollback');
      return { value, error, statements, latencyMs };
    },
    async close() {
      recorder.detachAll();
      await knex.destroy();
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
