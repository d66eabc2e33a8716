/**
 * knex reports pool and connection trouble on the console itself (with stack traces);
 * ctxbench turns every such error into its own one-line message, so knex stays quiet.
 */
import type { Knex } from 'knex';

/** Pass as `log` in every knex config ctxbench creates. */
export const quietKnexLog: Knex.Config['log'] = {
  warn() {},
  error() {},
  deprecate() {},
  debug() {},
};
