/**
 * Writing the reference dataset (docs/design.md §2) into a database: the embedded PGlite (COPY from
 * an in-process blob) or a real PostgreSQL (COPY FROM STDIN on one connection, in one
 * transaction). Both targets get the same rows from the same generator, batch by batch.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PGlite } from '@electric-sql/pglite';
import type { Knex } from 'knex';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { UsageError } from '../core/errors.js';
import type { ConversationFixture } from './fixtures.js';
import { DATASET_TABLES, dropDataset, migrate, migrateTablesOnly, MIGRATIONS_LOCK_TABLE, MIGRATIONS_TABLE, quoteIdent } from './migrate.js';
import { csvBatches } from './seed/csv.js';
import { planDataset, type TablePlan } from './seed/generator.js';
import type { ScaleSpec } from './seed/scales.js';
import type { DatasetTable } from './seed/schema.js';

/** Progress of one table, reported after every batch (and with done = 0 when it starts). */
export interface SeedProgress {
  readonly table: string;
  readonly done: number;
  readonly total: number;
}

/** What to seed. */
export interface SeedOptions {
  readonly scale: ScaleSpec;
  readonly seed: number;
  readonly fixtures: readonly ConversationFixture[];
  /** Called as rows are written; the core never prints. */
  readonly onProgress?: (progress: SeedProgress) => void;
}

/** What was seeded: rows per table and the wall time, in milliseconds. */
export interface SeedSummary {
  readonly rows: Readonly<Record<DatasetTable, number>>;
  readonly elapsedMs: number;
}

// A batch is one COPY statement (embedded) or one stream write (server): big enough to
// amortise the per-statement cost, small enough that `large` never builds a table in memory.
const BATCH_ROWS = 50_000;
const BATCH_BYTES = 8_000_000;

function copySql(plan: TablePlan, source: string): string {
  return `COPY ${quoteIdent(plan.table)} (${plan.columns.map(quoteIdent).join(', ')}) FROM ${source} WITH (FORMAT csv)`;
}

function emptyCounts(): Record<DatasetTable, number> {
  return Object.fromEntries(DATASET_TABLES.map((t) => [t, 0])) as Record<DatasetTable, number>;
}

function checkCount(plan: TablePlan, written: number): void {
  if (written !== plan.total) throw new Error(`internal: planned ${plan.total} rows for ${plan.table} but generated ${written}`);
}

const ANALYZE_SQL = `ANALYZE ${DATASET_TABLES.map(quoteIdent).join(', ')}`;

/**
 * Seeds the embedded database: drops and re-creates the dataset tables through `knex` (which
 * talks to `db` through pglite-socket), then loads the rows in-process with
 * `COPY … FROM '/dev/blob'`. COPY never goes through the socket: pglite-socket cannot carry it.
 *
 * @example
 * const summary = await seedEmbedded(db, knex, { scale: resolveScale('tiny'), seed: 1, fixtures: await loadFixtures() });
 * summary.rows.messages; // 428 with the shipped fixtures and seed 1
 */
export async function seedEmbedded(db: PGlite, knex: Knex, options: SeedOptions): Promise<SeedSummary> {
  const started = performance.now();
  const plan = planDataset(options);
  await dropDataset(knex);
  await migrateTablesOnly(knex);
  const rows = emptyCounts();
  await db.exec('BEGIN');
  try {
    for (const table of plan.tables) {
      options.onProgress?.({ table: table.table, done: 0, total: table.total });
      const sql = copySql(table, `'/dev/blob'`);
      for (const batch of csvBatches(table, BATCH_ROWS, BATCH_BYTES)) {
        await db.query(sql, [], { blob: new Blob([batch.bytes]) });
        rows[table.table] += batch.rows;
        options.onProgress?.({ table: table.table, done: rows[table.table], total: table.total });
      }
      checkCount(table, rows[table.table]);
    }
    await db.exec('COMMIT');
  } catch (error) {
    await db.exec('ROLLBACK').catch(() => undefined);
    throw error;
  }
  await migrate(knex);
  await db.exec(ANALYZE_SQL);
  return { rows, elapsedMs: performance.now() - started };
}

/**
 * Tables of the current schema that hold at least one row (ctxbench's own migration
 * bookkeeping does not count: after a failed load it is all that is left).
 */
async function tablesWithRows(knex: Knex): Promise<string[]> {
  const result = await knex.raw<{ rows: { name: string }[] }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = current_schema() and c.relkind in ('r', 'p') order by c.relname`,
  );
  const names = result.rows.map((r) => r.name).filter((name) => name !== MIGRATIONS_TABLE && name !== MIGRATIONS_LOCK_TABLE);
  if (names.length === 0) return [];
  const probe = names.map((name, i) => `select ${i} as i where exists (select 1 from ${quoteIdent(name)})`).join(' union all ');
  const found = await knex.raw<{ rows: { i: number }[] }>(probe);
  return found.rows.map((r) => names[r.i]);
}

/** The comment that marks a table as ctxbench's own: only marked tables are ever dropped. */
export const CTXBENCH_MARK = 'ctxbench';

/** Every table seeding creates (and `--force` drops). */
const OWN_TABLES = [...DATASET_TABLES, MIGRATIONS_TABLE, MIGRATIONS_LOCK_TABLE];

/**
 * Tables of the current schema with a name ctxbench uses but without its mark: someone
 * else's `users`, which seeding must neither replace nor drop, with or without --force.
 */
async function foreignTables(knex: Knex): Promise<string[]> {
  const result = await knex.raw<{ rows: { name: string }[] }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v', 'm', 'f') and c.relname = any (?)
        and obj_description(c.oid, 'pg_class') is distinct from ?
      order by c.relname`,
    [OWN_TABLES, CTXBENCH_MARK],
  );
  return result.rows.map((r) => r.name);
}

/** Marks ctxbench's tables (those that exist) with a COMMENT, so a later --force may drop them. */
async function markOwnTables(knex: Knex): Promise<void> {
  const result = await knex.raw<{ rows: { name: string }[] }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'p') and c.relname = any (?)`,
    [OWN_TABLES],
  );
  for (const { name } of result.rows) await knex.raw(`comment on table ${quoteIdent(name)} is '${CTXBENCH_MARK}'`);
}

/** Runs one statement on a raw pg connection. */
function run(connection: PoolClient, sql: string): Promise<unknown> {
  return connection.query(sql);
}

/**
 * Seeds a real PostgreSQL: refuses a database whose current schema holds a table of a name
 * ctxbench uses that ctxbench did not create (marked by `COMMENT … IS 'ctxbench'`), even with
 * `force`; refuses one holding any rows unless `force` (then drops and re-creates only the
 * ctxbench tables), migrates, and loads every table with `COPY … FROM STDIN` on one
 * connection, in one transaction.
 *
 * @example
 * await seedServer(knex, { scale: resolveScale('default'), seed: 1, fixtures, force: true });
 * @throws UsageError when the database is not empty and `force` is not set.
 */
export async function seedServer(knex: Knex, options: SeedOptions & { readonly force?: boolean }): Promise<SeedSummary> {
  const started = performance.now();
  const plan = planDataset(options);
  const foreign = await foreignTables(knex);
  if (foreign.length > 0) {
    const names = foreign.map((t) => `"${t}"`).join(', ');
    throw new UsageError(
      `the database already has ${foreign.length === 1 ? 'a table' : 'tables'} ${names} that ctxbench did not create (no COMMENT '${CTXBENCH_MARK}' on ${foreign.length === 1 ? 'it' : 'them'}): ` +
        `seeding would replace ${foreign.length === 1 ? 'it' : 'them'}, and --force only ever drops tables ctxbench created; seed an empty database or schema instead`,
    );
  }
  const occupied = await tablesWithRows(knex);
  if (occupied.length > 0 && !options.force) {
    const shown = occupied.slice(0, 5).join(', ') + (occupied.length > 5 ? `, and ${occupied.length - 5} more` : '');
    throw new UsageError(`database is not empty (rows in ${shown}): pass --force to drop and re-create the ctxbench tables`);
  }
  await dropDataset(knex);
  await migrateTablesOnly(knex);
  // Marked at once: after a failed load, a retry with --force may drop what this run created.
  await markOwnTables(knex);

  const rows = emptyCounts();
  const connection = (await knex.client.acquireConnection()) as PoolClient;
  try {
    await run(connection, 'BEGIN');
    try {
      for (const table of plan.tables) {
        options.onProgress?.({ table: table.table, done: 0, total: table.total });
        const counts = rows;
        const chunks = function* () {
          for (const batch of csvBatches(table, 5_000, 1_000_000)) {
            yield batch.bytes;
            counts[table.table] += batch.rows;
            options.onProgress?.({ table: table.table, done: counts[table.table], total: table.total });
          }
        };
        await pipeline(Readable.from(chunks(), { objectMode: false }), connection.query(copyFrom(copySql(table, 'STDIN'))));
        checkCount(table, rows[table.table]);
      }
      await run(connection, 'COMMIT');
    } catch (error) {
      await run(connection, 'ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    await knex.client.releaseConnection(connection);
  }
  await migrate(knex);
  await knex.raw(ANALYZE_SQL);
  return { rows, elapsedMs: performance.now() - started };
}
