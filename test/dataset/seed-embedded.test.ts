/**
 * Seeding the embedded database: DDL through knex over pglite-socket, rows by in-process COPY.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedEmbedded, type SeedProgress, type SeedSummary } from '../../src/db/dataset.js';
import { readCacheFile, startEmbedded, type EmbeddedEvent } from '../../src/db/embedded-server.js';
import { loadFixtures, type ConversationFixture } from '../../src/db/fixtures.js';
import { DATASET_TABLES, MIGRATIONS_TABLE, migrate } from '../../src/db/migrate.js';
import { MIGRATIONS } from '../../src/db/migrations/index.js';
import { planDataset } from '../../src/db/seed/generator.js';
import { resolveScale } from '../../src/db/seed/scales.js';
import { TABLE_COLUMNS, type DatasetTable } from '../../src/db/seed/schema.js';

const tiny = resolveScale('tiny');

describe('seedEmbedded (tiny, PGlite)', () => {
  let db: PGlite;
  let server: PGLiteSocketServer;
  let knex: Knex;
  let fixtures: ConversationFixture[];
  let summary: SeedSummary;
  const progress: SeedProgress[] = [];

  beforeAll(async () => {
    db = await PGlite.create();
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
    await server.start();
    knex = knexFactory({ client: 'pg', connection: `postgres://postgres@${server.getServerConn()}/postgres`, pool: { min: 0, max: 1 } });
    fixtures = await loadFixtures();
    summary = await seedEmbedded(db, knex, { scale: tiny, seed: 1, fixtures, onProgress: (p) => progress.push(p) });
  });

  afterAll(async () => {
    await knex?.destroy();
    await server?.stop();
    await db?.close();
  });

  it('writes exactly the planned rows, and the tables hold them', async () => {
    const plan = planDataset({ scale: tiny, seed: 1, fixtures });
    for (const table of DATASET_TABLES as DatasetTable[]) {
      const { rows } = await knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ${table}`);
      expect({ table, n: rows[0].n }).toEqual({ table, n: summary.rows[table] });
      expect(summary.rows[table]).toBe(plan.table(table).total);
      expect(summary.rows[table]).toBeGreaterThan(0);
    }
  });

  it('reports progress per table, ending at the total', () => {
    for (const table of DATASET_TABLES) {
      const events = progress.filter((p) => p.table === table);
      expect(events[0].done).toBe(0);
      expect(events.at(-1)).toEqual({ table, done: summary.rows[table as DatasetTable], total: summary.rows[table as DatasetTable] });
    }
  });

  it('has exactly the columns the generator writes', async () => {
    for (const table of DATASET_TABLES as DatasetTable[]) {
      const { rows } = await knex.raw<{ rows: { column_name: string }[] }>(
        `select column_name from information_schema.columns where table_schema = current_schema() and table_name = ? order by ordinal_position`,
        [table],
      );
      expect(rows.map((r) => r.column_name)).toEqual([...TABLE_COLUMNS[table]]);
    }
  });

  it('uses the documented column types', async () => {
    const { rows } = await knex.raw<{ rows: { t: string; c: string; type: string }[] }>(
      `select table_name as t, column_name as c, data_type as type from information_schema.columns
       where table_schema = current_schema() and (column_name in ('id', 'created_at', 'price', 'confidence_score', 'tags', 'keywords', 'persona_data'))`,
    );
    const types = Object.fromEntries(rows.map((r) => [`${r.t}.${r.c}`, r.type]));
    expect(types).toMatchObject({
      'users.id': 'bigint',
      'customers.id': 'bigint',
      'conversations.id': 'character varying',
      'messages.id': 'character varying',
      'products.id': 'uuid',
      'website_sources.id': 'uuid',
      'website_pages.id': 'uuid',
      'faqs.id': 'uuid',
      'messages.created_at': 'timestamp with time zone',
      'products.price': 'numeric',
      'faqs.confidence_score': 'real',
      'products.tags': 'jsonb',
      'faqs.keywords': 'jsonb',
      'customers.persona_data': 'jsonb',
    });
    // No database defaults for ids: the generator makes them.
    const defaults = await knex.raw<{ rows: unknown[] }>(
      `select table_name from information_schema.columns
       where table_schema = current_schema() and column_name = 'id' and column_default is not null and table_name = any(?)`,
      [[...DATASET_TABLES]],
    );
    expect(defaults.rows).toHaveLength(0);
  });

  it('indexes every foreign key and has the listed indexes and unique constraints', async () => {
    const { rows: indexes } = await knex.raw<{ rows: { table: string; columns: string[]; unique: boolean }[] }>(
      `select t.relname as table, array_agg(a.attname::text order by k.ord) as columns, i.indisunique as unique
       from pg_index i
       join pg_class t on t.oid = i.indrelid
       join pg_namespace n on n.oid = t.relnamespace and n.nspname = current_schema()
       cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
       join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum
       group by i.indexrelid, t.relname, i.indisunique`,
    );
    const has = (table: string, columns: string[], unique = false) =>
      indexes.some((ix) => ix.table === table && columns.every((c, i) => ix.columns[i] === c) && (!unique || (ix.unique && ix.columns.length === columns.length)));

    expect(has('messages', ['conversation_id', 'created_at'])).toBe(true);
    expect(has('products', ['user_id', 'is_active', 'updated_at'])).toBe(true);
    expect(has('website_sources', ['user_id', 'updated_at'])).toBe(true);
    expect(has('website_pages', ['website_id', 'processing_status', 'updated_at'])).toBe(true);
    expect(has('ai_prompts', ['user_id'], true)).toBe(true);
    expect(has('website_pages', ['url'], true)).toBe(true);

    const { rows: fks } = await knex.raw<{ rows: { table: string; column: string }[] }>(
      `select tc.table_name as table, kcu.column_name as column
       from information_schema.table_constraints tc
       join information_schema.key_column_usage kcu on kcu.constraint_name = tc.constraint_name and kcu.table_schema = tc.table_schema
       where tc.constraint_type = 'FOREIGN KEY' and tc.table_schema = current_schema()`,
    );
    expect(fks.length).toBe(10);
    for (const fk of fks) expect({ fk, indexed: has(fk.table, [fk.column]) }).toEqual({ fk, indexed: true });
  });

  it('keeps NULL and empty strings apart and round-trips awkward text exactly', async () => {
    const edge = fixtures.find((f) => f.id === 'en-edge-1');
    expect(edge).toBeDefined();
    const { rows } = await knex.raw<{ rows: { content: string }[] }>(
      `select content from messages where conversation_id = ? order by created_at, id collate "C"`,
      ['en-edge-1'],
    );
    expect(rows.map((r) => r.content).sort()).toEqual(edge!.messages.map((m) => m.content).sort());
    expect(rows.some((r) => r.content.includes('\n\\.\n'))).toBe(true);

    const { rows: customer } = await knex.raw<{ rows: { first_name: string | null; phone_number: string | null; email: string | null }[] }>(
      `select c.first_name, c.phone_number, c.email from customers c join conversations v on v.customer_id = c.id where v.id = 'en-edge-1'`,
    );
    expect(customer[0]).toEqual({ first_name: null, phone_number: '', email: null });
    const { rows: convo } = await knex.raw<{ rows: { title: string | null }[] }>(`select title from conversations where id = 'en-edge-1'`);
    expect(convo[0].title).toBe('');
  });

  it('is re-runnable: migrate is a no-op and seeding again replaces the data', async () => {
    await migrate(knex);
    const { rows } = await knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from ${MIGRATIONS_TABLE}`);
    expect(rows[0].n).toBe(MIGRATIONS.length);
    const again = await seedEmbedded(db, knex, { scale: tiny, seed: 1, fixtures });
    expect(again.rows).toEqual(summary.rows);
    const { rows: after } = await knex.raw<{ rows: { n: number }[] }>(`select count(*)::int as n from messages`);
    expect(after[0].n).toBe(summary.rows.messages);
  });
});

describe('the embedded cache heals itself (tiny, PGlite)', () => {
  let dir: string;
  let fixtures: ConversationFixture[];
  let cached: string;
  let good: Buffer;

  /** Starts on the cache in `dir`; returns the events, whether it seeded, and a row count it served. */
  async function start(extra: { force?: boolean; compressAbove?: number } = {}) {
    const events: EmbeddedEvent[] = [];
    const server = await startEmbedded({ scale: tiny, seed: 1, fixtures, cacheDir: dir, onEvent: (e) => events.push(e), ...extra });
    try {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>('select count(*)::int as n from conversations');
        return { events: events.filter((e) => e.kind !== 'seed-progress'), seededNow: server.seededNow, conversations: rows[0]!.n };
      } finally {
        await client.end();
      }
    } finally {
      await server.close();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-heal-'));
    fixtures = await loadFixtures();
    const first = await start();
    expect(first.seededNow).toBe(true);
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    cached = path.join(dir, files[0]!);
    good = await readFile(cached);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads a valid cache without seeding', async () => {
    const again = await start();
    expect(again.seededNow).toBe(false);
    expect(again.events.map((e) => e.kind)).toEqual(['cache-hit']);
    expect(again.conversations).toBeGreaterThan(0);
  });

  const damages: [string, (bytes: Buffer) => Buffer, string][] = [
    ['truncated', (b) => b.subarray(0, Math.floor(b.length / 2)), 'no checksum at its end: truncated, or not written by ctxbench'],
    ['random bytes', (b) => randomBytes(Math.min(b.length, 1 << 20)), 'no checksum at its end: truncated, or not written by ctxbench'],
    [
      'a damaged data page',
      (b) => {
        const copy = Buffer.from(b);
        for (let i = 0; i < 4096; i += 1) copy[Math.floor(b.length / 3) + i] ^= 0xa5;
        return copy;
      },
      'its checksum does not match: the file is damaged',
    ],
  ];
  for (const [what, damage, reason] of damages) {
    it(`a cache of ${what} is reported, seeded again and replaced`, async () => {
      await writeFile(cached, damage(good));
      const healed = await start();
      expect(healed.seededNow).toBe(true);
      expect(healed.events.filter((e) => e.kind === 'cache-invalid')).toEqual([{ kind: 'cache-invalid', file: cached, reason }]);
      expect(healed.conversations).toBeGreaterThan(0);
      // Replaced: the next run loads it.
      const next = await start();
      expect(next.events.map((e) => e.kind)).toEqual(['cache-hit']);
      expect(await readdir(dir)).toEqual([path.basename(cached)]);
    }, 180_000);
  }

  it('a cache whose checksum holds but that PGlite cannot load is seeded again', async (ctx) => {
    // A well-formed tarball without a data directory in it (PGlite takes anything else for gzip).
    const work = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-tar-'));
    let junk: Buffer;
    try {
      await mkdir(path.join(work, 'pgdata'));
      await writeFile(path.join(work, 'pgdata', 'README'), 'not a database');
      execFileSync('tar', ['cf', path.join(work, 'x.tar'), '-C', work, 'pgdata']);
      junk = await readFile(path.join(work, 'x.tar'));
    } catch (error) {
      console.log(`skipped: needs the tar command (${(error as Error).message.split('\n')[0]})`);
      ctx.skip();
      return;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const trailer = Buffer.from(`\nctxbench-sha256:${createHash('sha256').update(junk).digest('hex')}\n`);
    await writeFile(cached, Buffer.concat([junk, trailer]));
    const healed = await start();
    expect(healed.seededNow).toBe(true);
    const invalid = healed.events.filter((e) => e.kind === 'cache-invalid');
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({ file: cached, reason: expect.stringMatching(/^PGlite cannot load it/) });
    expect((await start()).events.map((e) => e.kind)).toEqual(['cache-hit']);
  }, 180_000);

  it('force seeds again and replaces even a valid cache', async () => {
    const forced = await start({ force: true });
    expect(forced.seededNow).toBe(true);
    expect(forced.events.map((e) => e.kind)).toEqual(['seeding', 'seeded']);
    expect(await readCacheFile(cached)).toHaveProperty('tarball');
  }, 180_000);

  it('caches a data directory above the size limit gzip-compressed, and serves it the same', async () => {
    const plain = await start();
    const compressed = await start({ force: true, compressAbove: 0 });
    const bytes = await readFile(cached);
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    expect(bytes.length).toBeLessThan(good.length / 3);
    const loaded = await start();
    expect(loaded.seededNow).toBe(false);
    expect(loaded.events.map((e) => e.kind)).toEqual(['cache-hit']);
    expect([compressed.conversations, loaded.conversations]).toEqual([plain.conversations, plain.conversations]);
    // Back to the plain file the other tests expect.
    await start({ force: true });
    expect((await readFile(cached))[0]).not.toBe(0x1f);
  }, 180_000);

  it('an unwritable cache directory means one warning and an uncached run', async () => {
    const blocker = path.join(dir, 'a-file');
    await writeFile(blocker, 'not a directory');
    const events: EmbeddedEvent[] = [];
    const server = await startEmbedded({ scale: tiny, seed: 1, fixtures, cacheDir: path.join(blocker, 'cache'), onEvent: (e) => events.push(e) });
    await server.close();
    expect(server.seededNow).toBe(true);
    const warnings = events.filter((e) => e.kind === 'cache-unwritable');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ dir: path.join(blocker, 'cache'), reason: expect.stringMatching(/^ENOTDIR/) });
    expect(events.filter((e) => e.kind === 'cache-invalid')).toEqual([]);
    await rm(blocker);
  }, 180_000);
});
