/**
 * The plain data shapes every part of ctxbench agrees on: the turn a strategy builds, the
 * context it returns, the statements the recorder measures and the report `compare` returns.
 * Nothing here knows a driver, a terminal or a file format.
 */
import type { Knex } from 'knex';

/**
 * One turn to replay: a customer message M of conversation C of tenant U.
 *
 * @example
 * const turn: Turn = { tenantId: '1', conversationId: 'fa-shop-1', messageId: 'k3J9aQ0bZx', asOf: '2025-10-04 09:00:00+00' };
 */
export interface Turn {
  /** `users.id` of the tenant, as text (bigint). */
  tenantId: string;
  /** `conversations.id`. */
  conversationId: string;
  /** `messages.id` of the customer message the prompt answers. */
  messageId: string;
  /** M.created_at as the database renders it (informational: compare in SQL, never via `Date`). */
  asOf: string;
}

/** SYSTEM section of the prompt (docs/design.md §3.1). NULL columns are `null`. */
export interface SystemPart {
  businessName: string | null;
  manualPrompt: string | null;
  autoPrompt: string | null;
  tone: string | null;
}

/** CUSTOMER section (docs/design.md §3.2): the conversation's customer and the conversation's source. */
export interface CustomerPart {
  firstName: string | null;
  lastName: string | null;
  phoneNumber: string | null;
  source: string | null;
}

/** One HISTORY line: speaker is the customer's first name (or `customer`) or the message type. */
export interface HistoryLine {
  speaker: string;
  content: string | null;
}

/** One PRODUCTS line. `price` is the database's decimal text, never a float. */
export interface ProductLine {
  title: string | null;
  productType: string | null;
  description: string | null;
  price: string | null;
  link: string | null;
  tags: string[];
}

/** One website source (docs/design.md §3.5). */
export interface WebsiteLine {
  name: string | null;
  url: string | null;
  description: string | null;
}

/** One page line; `website` is the name of the page's website. `excerpt` is the first 600 code points of cleaned_content. */
export interface PageLine {
  website: string | null;
  title: string | null;
  url: string | null;
  summary: string | null;
  excerpt: string | null;
}

/** One FAQ line. */
export interface FaqLine {
  question: string | null;
  answer: string | null;
}

/**
 * Everything one turn's prompt contains (docs/design.md §3). Strategies fetch it; one shared renderer
 * turns it into text, so two strategies agree exactly when their contexts do.
 */
export interface PromptContext {
  system: SystemPart | null;
  customer: CustomerPart | null;
  history: HistoryLine[];
  products: ProductLine[];
  websites: WebsiteLine[];
  pages: PageLine[];
  faqs: FaqLine[];
  question: string | null;
}

/**
 * Options of one `db.query`.
 *
 * @example
 * await db.query('select title from products where user_id = $1', [turn.tenantId], { name: 'products_v1' });
 */
export interface QueryOptions {
  /**
   * Sends the statement as a named prepared statement: the first call on the connection
   * parses it, later calls send only the name and the parameters, and the server reuses what
   * it parsed (and, once it judges a generic plan as good as its custom ones, the plan). The
   * name must stand for this one SQL text: another text under the same name is an error.
   * The server keeps a name's first 54 bytes (63, of which ctxbench takes 9 to make the name
   * the connection's own).
   */
  readonly name?: string;
}

/**
 * What a strategy receives: knex bound to the one instrumented connection, plus a raw
 * `query` for code that speaks SQL with `$1` parameters.
 */
export interface StrategyDb {
  /** knex bound to the instrumented connection (a pool of exactly that one connection). */
  readonly knex: Knex;
  /** Sends one statement with `$n` parameters on the instrumented connection. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<{ rows: R[]; rowCount: number | null }>;
  /**
   * Labels the statements `fn` sends, so reports break queries, bytes and rows down by
   * section (e.g. `db.section('products', () => ...)`).
   */
  section<T>(name: string, fn: () => Promise<T> | PromiseLike<T>): Promise<T>;
}

/**
 * A context-building strategy: a name and one async function. Built-in strategies use
 * exactly this interface.
 *
 * @example
 * const mine: Strategy = { name: 'mine', async build(db, turn) { ... return context; } };
 */
export interface Strategy<TTurn = Turn> {
  readonly name: string;
  readonly description?: string;
  /** The file a user strategy was loaded from (set by the loader). */
  readonly source?: string;
  /**
   * Tables and columns it reads (table → columns), checked before a diagnosis so a database
   * with another schema fails with every missing piece named, not halfway through.
   */
  readonly requires?: Readonly<Record<string, readonly string[]>>;
  /**
   * Builds one turn's context. Returns a PromptContext (rendered by ctxbench's renderer), a
   * prompt string, or for another schema any JSON-serialisable object (compared as canonical JSON).
   */
  build(db: StrategyDb, turn: TTurn): Promise<PromptContext | string | object>;
}

/** One statement as measured at the wire. */
export interface StatementRecord {
  /** Position within its turn, from 1. */
  seq: number;
  sql: string;
  /** Text parameters as sent (binary ones as `<binary n bytes>`, NULL as null). */
  params: (string | null)[];
  /** SQL with literals and parameters replaced by placeholders. */
  fingerprint: string;
  /** The section the strategy was in when it sent the statement (`db.section`), if any. */
  section: string | null;
  /** Client send to ReadyForQuery, in milliseconds (monotonic clock). */
  durationMs: number;
  /** DataRow messages received. */
  rows: number;
  /** Every backend message byte attributed to this statement, headers included. */
  wireBytes: number;
  /** Every frontend message byte the client sent for it (query text, parameters, Sync), headers included. */
  sentBytes: number;
  /** Sum of the non-NULL field values of its DataRows. */
  payloadBytes: number;
  /** Backend command tag (`SELECT 6`), or null when the statement failed. */
  command: string | null;
  /** Server error message, when the statement failed. */
  error: string | null;
  /** Which round trip of the turn it travelled in, from 1. */
  roundTrip: number;
  /**
   * Where the user's code sent it: `path:line` of the first stack frame outside ctxbench, knex
   * and pg (the path relative to the working directory when inside it); null when unknown (a
   * recorded program, a statement pg queued before it was traced). Absent in reports written
   * before call sites existed.
   */
  callSite?: string | null;
  /**
   * The sqlcommenter tags of its SQL (`/*controller='orders',route='%2Forders'*\/`, decoded), as
   * Django's, Rails' query-log-tags, Spring's and Node ORMs' integrations append them. Only
   * present when the SQL carries such a comment. Fingerprints never include the comment.
   */
  tags?: Record<string, string>;
}
