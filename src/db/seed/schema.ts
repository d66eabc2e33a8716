/**
 * The dataset's tables and columns in load order (parents before children), shared by the
 * generator, the CSV writer and the tests. The DDL lives in ../migrations; a test checks the
 * two agree.
 */

/** Columns of every dataset table, in COPY order. */
export const TABLE_COLUMNS = {
  users: ['id', 'email', 'business_name', 'first_name', 'last_name', 'created_at'],
  ai_prompts: ['id', 'user_id', 'manual_prompt', 'auto_prompt', 'tone', 'updated_at'],
  customers: [
    'id', 'first_name', 'last_name', 'username', 'phone_number', 'email', 'bio', 'persona_data',
    'source', 'source_id', 'profile_picture', 'created_at', 'updated_at',
  ],
  conversations: [
    'id', 'user_id', 'customer_id', 'source', 'status', 'title', 'is_active', 'priority', 'created_at', 'updated_at',
  ],
  messages: [
    'id', 'conversation_id', 'customer_id', 'type', 'content', 'is_ai_response', 'is_answered', 'metadata',
    'input_tokens', 'output_tokens', 'total_tokens', 'feedback', 'feedback_comment', 'created_at',
  ],
  products: [
    'id', 'user_id', 'title', 'product_type', 'description', 'price', 'link', 'tags', 'is_active',
    'specifications', 'features', 'images', 'meta_description', 'created_at', 'updated_at',
  ],
  website_sources: [
    'id', 'user_id', 'name', 'url', 'description', 'max_pages', 'crawl_depth', 'crawl_status', 'pages_crawled',
    'crawl_error_message', 'crawl_progress', 'created_at', 'updated_at',
  ],
  website_pages: [
    'id', 'website_id', 'url', 'title', 'raw_content', 'cleaned_content', 'summary', 'meta_description',
    'meta_keywords', 'word_count', 'processing_status', 'h1_tags', 'h2_tags', 'links', 'crawled_at',
    'created_at', 'updated_at',
  ],
  faqs: [
    'id', 'user_id', 'page_id', 'question', 'answer', 'context', 'keywords', 'confidence_score', 'category',
    'is_approved', 'created_at', 'updated_at',
  ],
} as const;

/** A dataset table name. */
export type DatasetTable = keyof typeof TABLE_COLUMNS;

/** The dataset tables in load order: every table after the tables it references. */
export const DATASET_TABLES: readonly DatasetTable[] = [
  'users',
  'ai_prompts',
  'customers',
  'conversations',
  'messages',
  'products',
  'website_sources',
  'website_pages',
  'faqs',
];

/** A JSON value as stored in a jsonb column. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * One cell as the generator produces it: text (timestamps as ISO-8601 UTC, numeric as
 * 2-decimal text), integers and reals, booleans, NULL, or a jsonb value (object or array).
 */
export type Cell = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One row of table `T`, keyed by column. */
export type RowOf<T extends DatasetTable> = { [K in (typeof TABLE_COLUMNS)[T][number]]: Cell };

/** One row of any dataset table. */
export type Row = Readonly<Record<string, Cell>>;
