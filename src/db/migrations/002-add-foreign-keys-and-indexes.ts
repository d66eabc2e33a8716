/**
 * Foreign keys and secondary indexes of the dataset. Every foreign key is the leading column
 * of an index (a composite one where docs/design.md §2 lists it); ai_prompts.user_id is covered by
 * its unique constraint from 001.
 */
import type { Knex } from 'knex';

/** Name recorded in the migrations table. */
export const name = '002-add-foreign-keys-and-indexes';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('ai_prompts', (t) => {
    t.foreign('user_id').references('id').inTable('users');
  });
  await knex.schema.alterTable('conversations', (t) => {
    t.foreign('user_id').references('id').inTable('users');
    t.foreign('customer_id').references('id').inTable('customers');
    t.index(['user_id']);
    t.index(['customer_id']);
  });
  await knex.schema.alterTable('messages', (t) => {
    t.foreign('conversation_id').references('id').inTable('conversations');
    t.foreign('customer_id').references('id').inTable('customers');
    t.index(['conversation_id', 'created_at']);
    t.index(['customer_id']);
  });
  await knex.schema.alterTable('products', (t) => {
    t.foreign('user_id').references('id').inTable('users');
    t.index(['user_id', 'is_active', 'updated_at']);
  });
  await knex.schema.alterTable('website_sources', (t) => {
    t.foreign('user_id').references('id').inTable('users');
    t.index(['user_id', 'updated_at']);
  });
  await knex.schema.alterTable('website_pages', (t) => {
    t.foreign('website_id').references('id').inTable('website_sources');
    t.index(['website_id', 'processing_status', 'updated_at']);
  });
  await knex.schema.alterTable('faqs', (t) => {
    t.foreign('user_id').references('id').inTable('users');
    t.foreign('page_id').references('id').inTable('website_pages');
    t.index(['user_id']);
    t.index(['page_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('faqs', (t) => {
    t.dropForeign(['user_id']);
    t.dropForeign(['page_id']);
    t.dropIndex(['user_id']);
    t.dropIndex(['page_id']);
  });
  await knex.schema.alterTable('website_pages', (t) => {
    t.dropForeign(['website_id']);
    t.dropIndex(['website_id', 'processing_status', 'updated_at']);
  });
  await knex.schema.alterTable('website_sources', (t) => {
    t.dropForeign(['user_id']);
    t.dropIndex(['user_id', 'updated_at']);
  });
  await knex.schema.alterTable('products', (t) => {
    t.dropForeign(['user_id']);
    t.dropIndex(['user_id', 'is_active', 'updated_at']);
  });
  await knex.schema.alterTable('messages', (t) => {
    t.dropForeign(['conversation_id']);
    t.dropForeign(['customer_id']);
    t.dropIndex(['conversation_id', 'created_at']);
    t.dropIndex(['customer_id']);
  });
  await knex.schema.alterTable('conversations', (t) => {
    t.dropForeign(['user_id']);
    t.dropForeign(['customer_id']);
    t.dropIndex(['user_id']);
    t.dropIndex(['customer_id']);
  });
  await knex.schema.alterTable('ai_prompts', (t) => {
    t.dropForeign(['user_id']);
  });
}
