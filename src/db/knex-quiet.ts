/**
 * knex reports pool and connection trouble on the console itself (with stack traces);
 * ctxbench turns every such error into its own one-line message, so knex stays quiet.
 */
import knexFactory, { type Knex } from 'knex';

/** Pass as `log` in every knex config ctxbench creates. */
export const quietKnexLog: Knex.Config['log'] = {
  warn() {},
  error() {},
  deprecate() {},
  debug() {},
};

/**
 * A quiet knex on one connection to `url`, for ctxbench's own setup work (seeding the embedded
 * database, running a setup file).
 *
 * @example
 * const knex = quietKnexOn(url);
 * try { await knex.raw('select 1'); } finally { await knex.destroy(); }
 */
export function quietKnexOn(url: string): Knex {
  return knexFactory({ log: quietKnexLog, client: 'pg', connection: url, pool: { min: 0, max: 1 } });
}
