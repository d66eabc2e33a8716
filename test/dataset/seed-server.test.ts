/**
 * seedServer on a real PostgreSQL (only when CTXBENCH_TEST_DATABASE_URL names one): the same
 * rows as the embedded database, byte for byte, and a refusal to overwrite a non-empty
 * database without --force.
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { seedEmbedded, seedServer, type SeedSummary } from '../../src/db/dataset.js';
import { loadFixtures, type ConversationFixture } from '../../src/db/fixtures.js';
import { DATASET_TABLES } from '../../src/db/migrate.js';
import { resolveScale } from '../../src/db/seed/scales.js';
import { describeIf, NEEDS_SERVER } from '../support/skip.js';

const adminUrl = process.env.CTXBENCH_TEST_DATABASE_URL;
const tiny = resolveScale('tiny');

/** One digest per table over every row's text, in byte order of the id; timestamps in UTC. */
function checksumSql(table: string): string {
  return `select count(*)::int as n, md5(coalesce(string_agg(t::text, E'\\n' order by t.id::text collate "C"), '')) as sum from ${table} t`;
}

describeIf(adminUrl, NEEDS_SERVER)('seedServer (real PostgreSQL)', () => {
  const dbName = `ctxbench_t_${randomBytes(6).toString('hex')}`;
  let server: Knex;
  let fixtures: ConversationFixture[];
  let serverSummary: SeedSummary;
  const embeddedSums = new Map<string, { n: number; sum: string }>();

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`create database ${dbName}`);
    } finally {
      await admin.end();
    }
    const url = new URL(adminUrl!);
    url.pathname = `/${dbName}`;
    server = knexFactory({ client: 'pg', connection: url.toString(), pool: { min: 0, max: 1 } });
    fixtures = await loadFixtures();
    serverSummary = await seedServer(server, { scale: tiny, seed: 1, fixtures });

    // The same dataset in PGlite, for comparison.
    const db = await PGlite.create();
    const socket = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
    await socket.start();
    const knex = knexFactory({ client: 'pg', connection: `postgres://postgres@${socket.getServerConn()}/postgres`, pool: { min: 0, max: 1 } });
    try {
      await seedEmbedded(db, knex, { scale: tiny, seed: 1, fixtures });
      await db.exec(`set timezone = 'UTC'`);
      for (const table of DATASET_TABLES) {
        const result = await db.query<{ n: number; sum: string }>(checksumSql(table));
        embeddedSums.set(table, result.rows[0]);
      }
    } finally {
      await knex.destroy();
      await socket.stop();
      await db.close();
    }
  });

  afterAll(async () => {
    await server?.destroy();
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`drop database if exists ${dbName} with (force)`);
    } finally {
      await admin.end();
    }
  });

  it('writes the planned row counts', async () => {
    for (const table of DATASET_TABLES) {
      const { rows } = await server.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ${table}`);
      expect({ table, n: rows[0].n }).toEqual({ table, n: serverSummary.rows[table as keyof SeedSummary['rows']] });
    }
  });

  it('holds exactly the rows PGlite holds (same counts, same checksum of every row)', async () => {
    await server.raw(`set timezone = 'UTC'`);
    for (const table of DATASET_TABLES) {
      const { rows } = await server.raw<{ rows: { n: number; sum: string }[] }>(checksumSql(table));
      expect({ table, ...rows[0] }).toEqual({ table, ...embeddedSums.get(table) });
    }
  });

  it('refuses to seed a non-empty database without force, and re-creates it with force', async () => {
    let error: unknown;
    try {
      await seedServer(server, { scale: tiny, seed: 1, fixtures });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toMatch(/^database is not empty \(rows in .*\): pass --force to drop and re-create the ctxbench tables$/);

    await server.raw('create table someone_elses (x int)');
    await server.raw('insert into someone_elses values (1)');
    const again = await seedServer(server, { scale: tiny, seed: 2, fixtures: [], force: true });
    expect(again.rows.conversations).toBeLessThan(serverSummary.rows.conversations);
    const { rows } = await server.raw<{ rows: { n: number }[] }>('select count(*)::int as n from conversations');
    expect(rows[0].n).toBe(again.rows.conversations);
    // Tables that are not ctxbench's are left alone.
    const other = await server.raw<{ rows: { x: number }[] }>('select x from someone_elses');
    expect(other.rows).toEqual([{ x: 1 }]);
  });
});

describeIf(adminUrl, NEEDS_SERVER)('seedServer never replaces or drops a table it did not create (real PostgreSQL: runs only when CTXBENCH_TEST_DATABASE_URL names one)', () => {
  const dbName = `ctxbench_t_${randomBytes(6).toString('hex')}`;
  let url: string;
  let server: Knex;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`create database ${dbName}`);
    } finally {
      await admin.end();
    }
    const u = new URL(adminUrl!);
    u.pathname = `/${dbName}`;
    url = u.toString();
    server = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  });

  afterAll(async () => {
    await server?.destroy();
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(`drop database if exists ${dbName} with (force)`);
    } finally {
      await admin.end();
    }
  });

  it("refuses an application's own users table, with or without --force, and leaves it as it was", async () => {
    await server.raw('create table users (id int primary key, login text)');
    await server.raw(`insert into users values (1, 'alice')`);
    const expected =
      `the database already has a table "users" that ctxbench did not create (no COMMENT 'ctxbench' on it): ` +
      'seeding would replace it, and --force only ever drops tables ctxbench created; seed an empty database or schema instead';
    for (const force of [false, true]) {
      await expect(seedServer(server, { scale: tiny, seed: 1, fixtures: [], force })).rejects.toThrow(new UsageError(expected));
    }
    const { runInProcess } = await import('../support/cli.js');
    const cli = await runInProcess(['seed', '--db', url, '--scale', 'tiny', '--force']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toBe(`ctxbench: ${expected}\n`);
    const { rows } = await server.raw<{ rows: { id: number; login: string }[] }>('select * from users');
    expect(rows).toEqual([{ id: 1, login: 'alice' }]);
    await server.raw('drop table users');
  });

  it("marks every table it creates, so --force re-seeds its own tables", async () => {
    await seedServer(server, { scale: tiny, seed: 1, fixtures: [] });
    const { rows } = await server.raw<{ rows: { name: string; mark: string | null }[] }>(
      `select c.relname as name, obj_description(c.oid, 'pg_class') as mark from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' order by 1`,
    );
    expect(rows.map((r) => r.name).sort()).toEqual([...DATASET_TABLES, 'ctxbench_migrations', 'ctxbench_migrations_lock'].sort());
    expect(rows.every((r) => r.mark === 'ctxbench')).toBe(true);
    const again = await seedServer(server, { scale: tiny, seed: 2, fixtures: [], force: true });
    expect(again.rows.users).toBeGreaterThan(0);
  });
});

