/**
 * A profiling session: one PostgreSQL connection, tapped at the wire, with knex bound to it.
 * `measure` runs a function inside a READ ONLY transaction and returns exactly the statements
 * that function sent — not the transaction's own BEGIN/COMMIT.
 */
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import type { Duplex } from 'node:stream';
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
  /** Per-statement timeout the server enforces, milliseconds (default 30 000). */
  statementTimeoutMs?: number;
  /** Connect timeout, milliseconds (default 10 000). */
  connectTimeoutMs?: number;
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

/** Opens a session on `url`. Connection failures become a DatabaseError (exit 3) with the URL masked. */
export async function openSession(url: string, options: SessionOptions = {}): Promise<ProfilingSession> {
  const recorder = new Recorder();
  const knex = knexFactory({
    client: 'pg',
    connection: {
      connectionString: url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      application_name: 'ctxbench',
    },
    // Exactly one connection: every statement of a turn travels on the tapped socket, in order.
    pool: {
      min: 0,
      max: 1,
      afterCreate(connection: pg.Client, done: (err: Error | null, connection: pg.Client) => void) {
        recorder.attach(pgClientSocket(connection));
        done(null, connection);
      },
    },
    acquireConnectionTimeout: options.connectTimeoutMs ?? 10_000,
  });

  let serverVersion: string;
  try {
    const result = await knex.raw('show server_version');
    serverVersion = String(result.rows[0].server_version);
    await knex.raw(`set statement_timeout = ${Math.max(0, Math.floor(options.statementTimeoutMs ?? 30_000))}`);
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
