/**
 * A strategy whose statements' call sites test/core/call-site.test.ts checks, line by line:
 * each statement is sent from the line marked `site:<name>` (a comment the test looks for, so
 * the lines can move). It reads only the system
 * catalogue, so it runs on any database, the reference dataset or an empty one.
 */
import { defineStrategy } from '../../../src/index.js';

/** A helper of the user's own between the strategy and knex: its line is the call site. */
async function typeNames(db: Parameters<Parameters<typeof defineStrategy>[0]['build']>[0], ids: number[]): Promise<string[]> {
  const names: string[] = [];
  for (const id of ids) {
    const row = await db.knex('pg_type').select('typname').where('oid', id).first(); // site:n-plus-one
    names.push(String(row?.typname ?? ''));
  }
  return names;
}

export default defineStrategy({
  name: 'call-sites',
  async build(db) {
    const { rows } = await db.query('select 1 as one'); // site:raw
    const classes = await db.knex('pg_class').select('relname').orderBy('relname').limit(2); // site:knex
    // A knex builder runs when awaited: both statements are sent from the line that awaits them.
    const [a, b] = await Promise.all([db.knex.raw('select 2 as two'), db.knex.raw('select 3 as three')]); // site:all
    const names = await typeNames(db, [16, 20, 23]);
    return `${rows.length} ${classes.length} ${a.rows.length + b.rows.length} ${names.join(',')}\n`;
  },
});
