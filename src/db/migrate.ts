/**
 * Creating and dropping the reference dataset's schema with knex migrations.
 */
import type { Knex } from 'knex';
import { MIGRATIONS, TABLES_MIGRATION, type MigrationModule } from './migrations/index.js';
import { DATASET_TABLES as TABLES_IN_LOAD_ORDER } from './seed/schema.js';

/**
 * Version of the schema *and* of the generator's output: bump it whenever either changes,
 * so cached seeded databases are rebuilt.
 */
export const SCHEMA_VERSION = 1;

/** The dataset tables, parents first (the order they are loaded in). */
export const DATASET_TABLES: readonly string[] = TABLES_IN_LOAD_ORDER;

/**
 * knex's bookkeeping tables. Named after ctxbench so that seeding a database never touches
 * (or drops) an application's own `knex_migrations`.
 */
export const MIGRATIONS_TABLE = 'ctxbench_migrations';
export const MIGRATIONS_LOCK_TABLE = `${MIGRATIONS_TABLE}_lock`;

/** A knex migration source over the statically imported list (no filesystem globbing). */
class ListMigrationSource implements Knex.MigrationSource<MigrationModule> {
  async getMigrations(): Promise<MigrationModule[]> {
    return [...MIGRATIONS];
  }
  getMigrationName(migration: MigrationModule): string {
    return migration.name;
  }
  async getMigration(migration: MigrationModule): Promise<Knex.Migration> {
    return { up: migration.up, down: migration.down };
  }
}

/**
 * Brings the dataset schema up to date (a no-op when it already is).
 *
 * @example
 * await migrate(knex);
 */
export async function migrate(knex: Knex): Promise<void> {
  await knex.migrate.latest({ migrationSource: new ListMigrationSource(), tableName: MIGRATIONS_TABLE });
}

/**
 * Creates the tables only (no foreign keys, no secondary indexes) on an empty schema: the
 * seeder bulk-loads at this point, then `migrate` adds the rest and validates every key in
 * one pass per constraint.
 */
export async function migrateTablesOnly(knex: Knex): Promise<void> {
  await knex.migrate.up({ migrationSource: new ListMigrationSource(), tableName: MIGRATIONS_TABLE, name: TABLES_MIGRATION });
}

/** Quotes an identifier for SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Drops the dataset tables and ctxbench's migration tables, if they exist. Nothing else is
 * touched.
 *
 * @example
 * await dropDataset(knex); // then migrate(knex) to start over
 */
export async function dropDataset(knex: Knex): Promise<void> {
  const tables = [...DATASET_TABLES].reverse().concat([MIGRATIONS_TABLE, MIGRATIONS_LOCK_TABLE]);
  await knex.raw(`drop table if exists ${tables.map(quoteIdent).join(', ')} cascade`);
}
