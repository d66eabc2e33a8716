/**
 * Before replaying against someone's database: does it have the tables and columns the
 * chosen strategies read, and may this role read them? Every missing one is reported at once
 * (exit 2), and a table the role may not read as "permission denied" (exit 3: the database
 * refused us), instead of a strategy failing on its first statement halfway through a run.
 */
import type { Knex } from 'knex';
import { DatabaseError, UsageError } from './errors.js';
import type { Strategy } from './types.js';

/** Table → columns a strategy reads. */
export type SchemaRequirements = Readonly<Record<string, readonly string[]>>;

/** What the built-in strategies read of the reference schema (docs/design.md §2–3). */
export const REFERENCE_SCHEMA: SchemaRequirements = {
  users: ['id', 'business_name'],
  ai_prompts: ['user_id', 'manual_prompt', 'auto_prompt', 'tone'],
  customers: ['id', 'first_name', 'last_name', 'phone_number'],
  conversations: ['id', 'user_id', 'customer_id', 'source'],
  messages: ['id', 'conversation_id', 'customer_id', 'type', 'content', 'created_at'],
  products: ['id', 'user_id', 'title', 'product_type', 'description', 'price', 'link', 'tags', 'is_active', 'updated_at'],
  website_sources: ['id', 'user_id', 'name', 'url', 'description', 'updated_at'],
  website_pages: ['id', 'website_id', 'title', 'url', 'summary', 'cleaned_content', 'processing_status', 'updated_at'],
  faqs: ['id', 'user_id', 'question', 'answer', 'keywords', 'confidence_score', 'is_approved'],
};

/**
 * Checks that the tables and columns `strategies` declare (`requires`) are visible on the
 * search path. Strategies that declare nothing are not checked.
 *
 * @example
 * await checkSchema(session.control, [naiveStrategy, optimizedStrategy]);
 */
export async function checkSchema(control: Knex, strategies: readonly Strategy<any>[]): Promise<void> {
  const needed = new Map<string, Set<string>>();
  const who = new Map<string, Set<string>>();
  for (const s of strategies) {
    for (const [table, columns] of Object.entries(s.requires ?? {})) {
      if (!needed.has(table)) needed.set(table, new Set());
      for (const c of columns) needed.get(table)!.add(c);
      if (!who.has(table)) who.set(table, new Set());
      who.get(table)!.add(s.name);
    }
  }
  if (needed.size === 0) return;
  // The catalogs, not information_schema: it hides what the role may not read, so a table
  // without SELECT would look missing.
  const { rows } = await control.raw(
    `select c.relname as table_name, a.attname as column_name,
            has_column_privilege(c.oid, a.attnum, 'SELECT') as readable
       from pg_class c
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      where c.relkind in ('r', 'p', 'v', 'm', 'f') and pg_table_is_visible(c.oid) and c.relname = any (?)`,
    [[...needed.keys()]],
  );
  const present = new Map<string, Set<string>>();
  const readable = new Map<string, Set<string>>();
  for (const r of rows as { table_name: string; column_name: string; readable: boolean }[]) {
    if (!present.has(r.table_name)) {
      present.set(r.table_name, new Set());
      readable.set(r.table_name, new Set());
    }
    present.get(r.table_name)!.add(r.column_name);
    if (r.readable) readable.get(r.table_name)!.add(r.column_name);
  }
  const denied: string[] = [];
  for (const [table, columns] of needed) {
    const have = present.get(table);
    if (have === undefined) continue;
    const by = [...who.get(table)!].join(', ');
    const refused = [...columns].filter((c) => have.has(c) && !readable.get(table)!.has(c));
    if (refused.length === 0) continue;
    denied.push(
      readable.get(table)!.size === 0
        ? `permission denied for table ${table} (SQLSTATE 42501): this role may not read it (needed by ${by})`
        : `permission denied for column${refused.length === 1 ? '' : 's'} ${refused.map((c) => `"${c}"`).join(', ')} of table ${table} (SQLSTATE 42501) (needed by ${by})`,
    );
  }
  const problems: string[] = [];
  for (const [table, columns] of needed) {
    const have = present.get(table);
    const by = [...who.get(table)!].join(', ');
    if (have === undefined) {
      problems.push(`schema: table "${table}" is missing (needed by ${by})`);
      continue;
    }
    const missing = [...columns].filter((c) => !have.has(c));
    if (missing.length > 0) problems.push(`schema: table "${table}" has no column ${missing.map((c) => `"${c}"`).join(', ')} (needed by ${by})`);
  }
  if (problems.length > 0) {
    problems.push(
      'schema: the built-in strategies read the reference schema (see README); for another schema, write your own strategy (--strategies ./mine.ts) and give its turns with --turns',
    );
    throw new UsageError([...problems, ...denied]);
  }
  if (denied.length > 0) {
    denied.push('grant this role SELECT on them (GRANT SELECT ON … TO …), or connect as a role that has it');
    throw new DatabaseError(denied.join('\n'));
  }
}
