/**
 * Before replaying against someone's database: does it have the tables and columns the
 * chosen strategies read? Every missing one is reported at once (exit 2), instead of a
 * strategy failing on its first statement halfway through a run.
 */
import type { Knex } from 'knex';
import { UsageError } from './errors.js';
import type { Strategy } from './types.js';

/** Table → columns a strategy reads. */
export type SchemaRequirements = Readonly<Record<string, readonly string[]>>;

/** What the built-in strategies read of the reference schema (DESIGN §2–3). */
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
  const { rows } = await control.raw(
    `select c.table_name, c.column_name
       from information_schema.columns c
      where c.table_schema = any (current_schemas(false)) and c.table_name = any (?)`,
    [[...needed.keys()]],
  );
  const present = new Map<string, Set<string>>();
  for (const r of rows as { table_name: string; column_name: string }[]) {
    if (!present.has(r.table_name)) present.set(r.table_name, new Set());
    present.get(r.table_name)!.add(r.column_name);
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
    throw new UsageError(problems);
  }
}
