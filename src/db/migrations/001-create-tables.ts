/**
 * The reference dataset's tables (docs/design.md §2) with their primary keys and unique constraints.
 * Ids have no database defaults: the generator makes them, so the same seed gives the same
 * ids everywhere. Foreign keys and secondary indexes come in the next migration, so the
 * seeder can load rows before them (checking a million foreign keys row by row, and
 * maintaining indexes row by row, is what makes a bulk load slow).
 */
import type { Knex } from 'knex';

/** Name recorded in the migrations table. */
export const name = '001-create-tables';

const tz = { useTz: true } as const;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.bigInteger('id').primary();
    t.string('email', 254).notNullable();
    t.string('business_name', 255).notNullable();
    t.string('first_name', 150).nullable();
    t.string('last_name', 150).nullable();
    t.timestamp('created_at', tz).notNullable();
  });

  await knex.schema.createTable('ai_prompts', (t) => {
    t.bigInteger('id').primary();
    // This unique constraint's index also serves the foreign key added in 002.
    t.bigInteger('user_id').notNullable().unique();
    t.text('manual_prompt').nullable();
    t.text('auto_prompt').nullable();
    t.string('tone', 30).nullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('customers', (t) => {
    t.bigInteger('id').primary();
    t.string('first_name', 150).nullable();
    t.string('last_name', 150).nullable();
    t.string('username', 150).nullable();
    t.string('phone_number', 32).nullable();
    t.string('email', 254).nullable();
    t.text('bio').nullable();
    t.jsonb('persona_data').nullable();
    t.string('source', 20).notNullable();
    t.string('source_id', 64).notNullable();
    t.string('profile_picture', 500).nullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('conversations', (t) => {
    t.string('id', 10).primary();
    t.bigInteger('user_id').notNullable();
    t.bigInteger('customer_id').notNullable();
    t.string('source', 20).notNullable();
    t.string('status', 20).notNullable();
    t.string('title', 255).nullable();
    t.boolean('is_active').notNullable();
    t.string('priority', 10).notNullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('messages', (t) => {
    t.string('id', 10).primary();
    t.string('conversation_id', 10).notNullable();
    t.bigInteger('customer_id').nullable();
    t.string('type', 20).notNullable().checkIn(['customer', 'AI', 'support', 'marketing']);
    t.text('content').notNullable();
    t.boolean('is_ai_response').notNullable();
    t.boolean('is_answered').notNullable();
    t.jsonb('metadata').nullable();
    t.integer('input_tokens').nullable();
    t.integer('output_tokens').nullable();
    t.integer('total_tokens').nullable();
    t.string('feedback', 10).nullable();
    t.text('feedback_comment').nullable();
    t.timestamp('created_at', tz).notNullable();
  });

  await knex.schema.createTable('products', (t) => {
    t.uuid('id').primary();
    t.bigInteger('user_id').notNullable();
    t.string('title', 255).notNullable();
    t.string('product_type', 50).nullable();
    t.text('description').nullable();
    t.decimal('price', 10, 2).nullable();
    t.string('link', 500).nullable();
    t.jsonb('tags').notNullable();
    t.boolean('is_active').notNullable();
    t.jsonb('specifications').notNullable();
    t.jsonb('features').notNullable();
    t.jsonb('images').notNullable();
    t.string('meta_description', 300).nullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('website_sources', (t) => {
    t.uuid('id').primary();
    t.bigInteger('user_id').notNullable();
    t.string('name', 255).notNullable();
    t.string('url', 500).notNullable();
    t.text('description').nullable();
    t.integer('max_pages').notNullable();
    t.integer('crawl_depth').notNullable();
    t.string('crawl_status', 20).notNullable();
    t.integer('pages_crawled').notNullable();
    t.text('crawl_error_message').nullable();
    t.float('crawl_progress').notNullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('website_pages', (t) => {
    t.uuid('id').primary();
    t.uuid('website_id').notNullable();
    t.string('url', 1000).notNullable().unique();
    t.string('title', 500).nullable();
    t.text('raw_content').nullable();
    t.text('cleaned_content').nullable();
    t.text('summary').nullable();
    t.text('meta_description').nullable();
    t.text('meta_keywords').nullable();
    t.integer('word_count').nullable();
    t.string('processing_status', 20).notNullable();
    t.jsonb('h1_tags').notNullable();
    t.jsonb('h2_tags').notNullable();
    t.jsonb('links').notNullable();
    t.timestamp('crawled_at', tz).nullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('faqs', (t) => {
    t.uuid('id').primary();
    t.bigInteger('user_id').notNullable();
    t.uuid('page_id').nullable();
    t.text('question').notNullable();
    t.text('answer').notNullable();
    t.text('context').nullable();
    t.jsonb('keywords').notNullable();
    t.float('confidence_score').nullable();
    t.string('category', 100).nullable();
    t.boolean('is_approved').notNullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['faqs', 'website_pages', 'website_sources', 'products', 'messages', 'conversations', 'customers', 'ai_prompts', 'users']) {
    await knex.schema.dropTableIfExists(table);
  }
}
