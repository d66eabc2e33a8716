/**
 * The real PostgreSQL the benchmarks may use: CTXBENCH_BENCH_DATABASE_URL or DATABASE_URL when
 * set (then it must be reachable), else the local server at postgres://postgres@127.0.0.1:5432/test
 * when it answers. Every benchmark on it works in a database of its own, created here and
 * dropped afterwards: nothing is ever written to the database the URL names.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { maskUrl } from '../../dist/index.js';

export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Finds the PostgreSQL to measure. Returns `{ url, serverVersion, source }`, or
 * `{ url: null, reason }` when there is none to use.
 */
export async function findPostgres({ disabled = false } = {}) {
  if (disabled) return { url: null, reason: 'disabled by --no-postgres' };
  const source = process.env.CTXBENCH_BENCH_DATABASE_URL
    ? 'CTXBENCH_BENCH_DATABASE_URL'
    : process.env.DATABASE_URL
      ? 'DATABASE_URL'
      : null;
  const url = source ? process.env[source] : LOCAL_POSTGRES_URL;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const { rows } = await client.query('show server_version');
    return { url, source: source ?? 'local default', serverVersion: String(rows[0].server_version) };
  } catch (error) {
    const reason = `${maskUrl(url)} unreachable: ${error?.message ?? error}`;
    // A URL the user set must work; the local default is only used when it happens to be there.
    if (source) throw new Error(`${source}: ${reason}`);
    return { url: null, reason };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs `fn(url)` on a fresh database of the server at `adminUrl`, dropped afterwards whatever happens. */
export async function withTempDatabase(adminUrl, fn) {
  const name = `ctxbench_bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name}`);
  try {
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return await fn(url.toString());
  } finally {
    // WITH (FORCE): PostgreSQL 13+, the oldest ctxbench supports.
    await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
  }
}

async function adminQuery(adminUrl, sql) {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
