/**
 * The databases a database-facing test runs on: always the embedded PGlite (over its socket,
 * as ctxbench uses it), and a real PostgreSQL too when CTXBENCH_TEST_DATABASE_URL names one.
 * Each real-server backend is a database of its own, created here and dropped on close.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import knexFactory from 'knex';
import pg from 'pg';
import { seedServer } from '../../src/db/dataset.js';
import { startEmbedded } from '../../src/db/embedded-server.js';
import { loadFixtures } from '../../src/db/fixtures.js';
import { resolveScale } from '../../src/db/seed/scales.js';

export type BackendKind = 'pglite' | 'postgres';

/** The backends this run covers. */
export const backendKinds: BackendKind[] = process.env.CTXBENCH_TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

/** Where tests cache seeded embedded databases (shared by test files; writes are atomic). */
export const testCacheDir = process.env.CTXBENCH_TEST_CACHE_DIR || path.join(os.tmpdir(), 'ctxbench-test-cache');

export interface TestBackend {
  kind: BackendKind;
  url: string;
  close(): Promise<void>;
}

/** A fresh, empty database on a real server, dropped by close(). */
export async function createServerDatabase(): Promise<TestBackend> {
  const adminUrl = process.env.CTXBENCH_TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('CTXBENCH_TEST_DATABASE_URL is not set');
  const name = `ctxbench_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    kind: 'postgres',
    url: url.toString(),
    async close() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * An empty database of the given kind (PGlite in memory behind a socket, or a fresh server
 * database). PGlite's socket takes one connection unless told more (`maxConnections`), for
 * clients such as pgbench that keep one open while opening the next.
 */
export async function emptyBackend(kind: BackendKind, options: { maxConnections?: number } = {}): Promise<TestBackend> {
  if (kind === 'postgres') return createServerDatabase();
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: options.maxConnections ?? 1 });
  await server.start();
  return {
    kind,
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}

/** A database holding the reference dataset at `scale` (default tiny), seed 1. */
export async function seededBackend(kind: BackendKind, scale = 'tiny', seed = 1): Promise<TestBackend> {
  const fixtures = await loadFixtures();
  if (kind === 'pglite') {
    const server = await startEmbedded({ scale: resolveScale(scale), seed, fixtures, cacheDir: testCacheDir });
    return { kind, url: server.url, close: () => server.close() };
  }
  const backend = await createServerDatabase();
  const knex = knexFactory({ client: 'pg', connection: backend.url, pool: { min: 0, max: 1 } });
  try {
    await seedServer(knex, { scale: resolveScale(scale), seed, fixtures });
  } finally {
    await knex.destroy();
  }
  return backend;
}
