/**
 * Every migration, in order. Listed explicitly (not globbed from disk) so migrations run the
 * same from src/ under vitest and from the compiled dist/.
 */
import type { Knex } from 'knex';
import * as createTables from './001-create-tables.js';
import * as addForeignKeysAndIndexes from './002-add-foreign-keys-and-indexes.js';

/** One migration: a unique name and its up/down functions. */
export interface MigrationModule {
  readonly name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** All migrations in the order they apply. */
export const MIGRATIONS: readonly MigrationModule[] = [createTables, addForeignKeysAndIndexes];

/**
 * The migration after which the tables exist but have no foreign keys or secondary indexes:
 * the seeder loads rows at this point, then applies the rest.
 */
export const TABLES_MIGRATION = createTables.name;
