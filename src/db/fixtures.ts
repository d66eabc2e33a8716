/**
 * Hand-written conversations to replay (fixtures/*.json, docs/design.md §2). The format is
 * documented in fixtures/README.md; validation reports every problem of every file at once,
 * each naming the file, the field path and the reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../core/errors.js';
import { decodeUtf8 } from '../core/read-text.js';

/** Message types, as in `messages.type`. */
export const MESSAGE_TYPES = ['customer', 'AI', 'support', 'marketing'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

/** Channels a conversation can come from (`conversations.source`). */
export const CONVERSATION_SOURCES = ['instagram', 'telegram', 'whatsapp', 'website'] as const;
export type ConversationSource = (typeof CONVERSATION_SOURCES)[number];

/** The conversation's customer; every field may be null (missing means null). */
export interface FixtureCustomer {
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly username: string | null;
  readonly phoneNumber: string | null;
  readonly email: string | null;
  readonly bio: string | null;
}

/** One message, in chronological order. */
export interface FixtureMessage {
  readonly type: MessageType;
  readonly content: string;
  /**
   * Milliseconds after the previous message (after the conversation start for the first);
   * 0 gives two messages the same created_at (a tie broken by id). null: the seeder picks a
   * realistic delay.
   */
  readonly delayMs: number | null;
}

/** One validated fixture file. */
export interface ConversationFixture {
  /** The file it came from, as shown in messages (`fixtures/fa-shop.json`). */
  readonly file: string;
  /** `conversations.id`: 1–10 characters of a-z, 0-9 and '-', with at least one '-'. */
  readonly id: string;
  /** `users.id` of the tenant (see the roster in fixtures/README.md). */
  readonly tenant: number;
  readonly source: ConversationSource;
  readonly title: string | null;
  readonly customer: FixtureCustomer;
  readonly messages: readonly FixtureMessage[];
}

/**
 * The id pattern: generated conversation ids are 10 base62 characters without '-', so a
 * fixture id (which has one) can never collide with them.
 */
const FIXTURE_ID = /^[a-z0-9]+(?:-[a-z0-9]+)+$/;
const MAX_DELAY_MS = 30 * 24 * 3600 * 1000;

const ROOT_KEYS = ['id', 'tenant', 'source', 'title', 'notes', 'customer', 'messages'] as const;
const CUSTOMER_KEYS: Readonly<Record<string, { column: keyof FixtureCustomer; max: number }>> = {
  first_name: { column: 'firstName', max: 150 },
  last_name: { column: 'lastName', max: 150 },
  username: { column: 'username', max: 150 },
  phone_number: { column: 'phoneNumber', max: 32 },
  email: { column: 'email', max: 254 },
  bio: { column: 'bio', max: 5000 },
};
const MESSAGE_KEYS = ['type', 'content', 'delay_ms'] as const;

/** How a JSON value is named in "got …". */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** PostgreSQL text cannot hold U+0000: where a string has one, as "character N", else null. */
function nulAt(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const i = value.indexOf('\u0000');
  return i < 0 ? null : `contains a NUL character (\\u0000) at character ${i + 1}, which PostgreSQL text cannot store`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates one parsed fixture file. `file` is the name used in messages.
 *
 * @example
 * parseFixture('fixtures/x.json', { id: 'en-x-1', tenant: 2, source: 'instagram', customer: {},
 *   messages: [{ type: 'customer', content: 'How much is shipping?' }] });
 * @throws UsageError listing every problem, one per line: `file: field: reason`.
 */
export function parseFixture(file: string, json: unknown): ConversationFixture {
  const problems: string[] = [];
  const problem = (field: string, reason: string) => problems.push(field ? `${file}: ${field}: ${reason}` : `${file}: ${reason}`);

  if (!isObject(json)) {
    problem('', `expected an object with id, tenant, source, customer and messages, got ${describe(json)}`);
    throw new UsageError(problems);
  }
  for (const key of Object.keys(json)) {
    if (!(ROOT_KEYS as readonly string[]).includes(key)) problem(key, `unknown field (expected one of ${ROOT_KEYS.join(', ')})`);
  }

  const id = json.id;
  if (typeof id !== 'string') problem('id', `expected a string, got ${describe(id)}`);
  else if (id.length > 10 || !FIXTURE_ID.test(id)) {
    problem('id', `expected 1-10 characters of a-z, 0-9 and '-' with at least one '-' (generated ids never have one), got ${describe(id)}`);
  }

  const tenant = json.tenant;
  if (typeof tenant !== 'number' || !Number.isSafeInteger(tenant) || tenant < 1) {
    problem('tenant', `expected a tenant id (a whole number ≥ 1), got ${describe(tenant)}`);
  }

  const source = json.source;
  if (typeof source !== 'string' || !(CONVERSATION_SOURCES as readonly string[]).includes(source)) {
    problem('source', `expected one of ${CONVERSATION_SOURCES.join(', ')}, got ${describe(source)}`);
  }

  const title = json.title;
  if (title !== undefined && title !== null && (typeof title !== 'string' || title.length > 255)) {
    problem('title', `expected a string of at most 255 characters or null, got ${describe(title)}`);
  } else if (nulAt(title) !== null) problem('title', nulAt(title)!);
  if (json.notes !== undefined && typeof json.notes !== 'string') problem('notes', `expected a string, got ${describe(json.notes)}`);

  const customer: Record<keyof FixtureCustomer, string | null> = {
    firstName: null,
    lastName: null,
    username: null,
    phoneNumber: null,
    email: null,
    bio: null,
  };
  if (!isObject(json.customer)) {
    problem('customer', `expected an object (fields ${Object.keys(CUSTOMER_KEYS).join(', ')}; each a string or null), got ${describe(json.customer)}`);
  } else {
    for (const [key, value] of Object.entries(json.customer)) {
      const spec = CUSTOMER_KEYS[key];
      if (!spec) {
        problem(`customer.${key}`, `unknown field (expected one of ${Object.keys(CUSTOMER_KEYS).join(', ')})`);
      } else if (value !== null && typeof value !== 'string') {
        problem(`customer.${key}`, `expected a string or null, got ${describe(value)}`);
      } else if (typeof value === 'string' && value.length > spec.max) {
        problem(`customer.${key}`, `expected at most ${spec.max} characters, got ${value.length}`);
      } else if (nulAt(value) !== null) {
        problem(`customer.${key}`, nulAt(value)!);
      } else {
        customer[spec.column] = value;
      }
    }
  }

  const messages: FixtureMessage[] = [];
  if (!Array.isArray(json.messages) || json.messages.length === 0) {
    problem('messages', `expected a non-empty array of messages, got ${describe(json.messages)}`);
  } else {
    json.messages.forEach((raw: unknown, i: number) => {
      const at = `messages[${i}]`;
      if (!isObject(raw)) {
        problem(at, `expected an object with type and content, got ${describe(raw)}`);
        return;
      }
      for (const key of Object.keys(raw)) {
        if (!(MESSAGE_KEYS as readonly string[]).includes(key)) problem(`${at}.${key}`, `unknown field (expected one of ${MESSAGE_KEYS.join(', ')})`);
      }
      const { type, content, delay_ms: delay } = raw;
      let ok = true;
      if (typeof type !== 'string' || !(MESSAGE_TYPES as readonly string[]).includes(type)) {
        problem(`${at}.type`, `expected one of ${MESSAGE_TYPES.join(', ')}, got ${describe(type)}`);
        ok = false;
      }
      if (typeof content !== 'string' || content.trim() === '') {
        problem(`${at}.content`, `expected a non-empty string, got ${describe(content)}`);
        ok = false;
      } else if (nulAt(content) !== null) {
        problem(`${at}.content`, nulAt(content)!);
        ok = false;
      }
      if (delay !== undefined && delay !== null && (typeof delay !== 'number' || !Number.isSafeInteger(delay) || delay < 0 || delay > MAX_DELAY_MS)) {
        problem(`${at}.delay_ms`, `expected whole milliseconds between 0 and ${MAX_DELAY_MS} or null, got ${describe(delay)}`);
        ok = false;
      }
      if (ok) {
        messages.push({ type: type as MessageType, content: content as string, delayMs: typeof delay === 'number' ? delay : null });
      }
    });
    const typed = json.messages.filter((m: unknown) => isObject(m) && typeof m.type === 'string');
    if (typed.length === json.messages.length && !typed.some((m) => (m as Record<string, unknown>).type === 'customer')) {
      problem('messages', 'expected at least one message of type customer (the turns to replay)');
    }
  }

  if (problems.length > 0) throw new UsageError(problems);
  return {
    file,
    id: id as string,
    tenant: tenant as number,
    source: source as ConversationSource,
    title: typeof title === 'string' ? title : null,
    customer,
    messages,
  };
}

/**
 * The `fixtures/` folder shipped with the package: found by walking up from this module to
 * the folder holding ctxbench's package.json, so it works from src/ (tests) and dist/.
 */
export function defaultFixturesDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  let firstPackage: string | null = null;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest)) {
      firstPackage ??= dir;
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'ctxbench') return path.join(dir, 'fixtures');
      } catch {
        // An unreadable manifest is not ours; keep walking.
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return path.join(firstPackage ?? process.cwd(), 'fixtures');
}

/** A path as shown in messages: relative to the working directory when inside it. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/**
 * Loads and validates every `*.json` file of `dir`, sorted by file name.
 *
 * @example
 * const fixtures = await loadFixtures();            // the shipped fixtures
 * const mine = await loadFixtures('./my-fixtures');  // your own conversations
 * @throws UsageError naming every invalid file, field and reason, and duplicate ids.
 */
export async function loadFixtures(dir: string = defaultFixturesDir()): Promise<ConversationFixture[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.json'));
  } catch (error) {
    throw new UsageError(`${displayPath(dir)}: cannot read the fixtures directory (${(error as Error).message})`, { cause: error });
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

  const problems: string[] = [];
  const fixtures: ConversationFixture[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const file = displayPath(path.join(dir, name));
    let json: unknown;
    try {
      const text = decodeUtf8(await readFile(path.join(dir, name)), file);
      try {
        json = JSON.parse(text);
      } catch (error) {
        problems.push(`${file}: invalid JSON: ${(error as Error).message}`);
        continue;
      }
    } catch (error) {
      if (error instanceof UsageError) problems.push(...error.problems);
      else problems.push(`${file}: cannot read: ${(error as Error).message}`);
      continue;
    }
    try {
      const fixture = parseFixture(file, json);
      const other = seen.get(fixture.id);
      if (other !== undefined) {
        problems.push(`${file}: id: duplicate conversation id "${fixture.id}" (also in ${other})`);
      } else {
        seen.set(fixture.id, file);
        fixtures.push(fixture);
      }
    } catch (error) {
      if (error instanceof UsageError) problems.push(...error.problems);
      else throw error;
    }
  }
  if (problems.length > 0) throw new UsageError(problems);
  return fixtures;
}
