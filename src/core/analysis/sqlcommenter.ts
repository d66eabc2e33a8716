/**
 * sqlcommenter tags: the comment that Django's, Rails' query-log-tags (in its `:sqlcommenter`
 * format), Spring's and Node ORMs' integrations put on each statement to say which part of
 * the program sent it — `select … /*controller='orders',route='%2Forders%2F'*\/`. For programs
 * ctxbench records in other languages this is what a call site is for its own instrumentation.
 *
 * The format (https://google.github.io/sqlcommenter/spec/): one block comment, appended to the
 * statement (some integrations prepend it); `key='value'` pairs separated by commas, keys
 * sorted; keys and values URL-encoded, values in single quotes with `'` escaped as `\'`.
 * Fingerprints drop every comment, so tags never split a statement shape.
 */

/**
 * Tags that identify one request or turn rather than a place in the program (W3C trace context,
 * ctxbench's own turn marker): they differ from turn to turn, so findings leave them out when
 * grouping by tags.
 *
 * @example
 * stableTags({ route: '/x', traceparent: '00-…' }); // => { route: '/x' }
 */
export const REQUEST_TAGS: readonly string[] = ['traceparent', 'tracestate', 'ctxbench_turn'];

/**
 * Tags that describe the program's stack rather than a place in it (sqlcommenter's `framework`
 * and `db_driver`): the same on every statement, so findings leave them out too.
 *
 * @example
 * stableTags({ route: '/x', framework: 'django:4.2' }); // => { route: '/x' }
 */
export const STACK_TAGS: readonly string[] = ['framework', 'db_driver'];

/** One `key='value'` pair, and the comma or the end after it. */
const PAIR = /\s*([^\s=,'*/]+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*(?:,|$)/y;

/**
 * The tags of a statement's sqlcommenter comment — its last block comment, or its first when
 * the comment was prepended — decoded; null when it has none in that format.
 *
 * @example
 * parseSqlCommenter("select 1 /*action='list',route='%2Forders'*\/"); // => { action: 'list', route: '/orders' }
 * parseSqlCommenter('select 1 /* a note *\/'); // => null
 */
export function parseSqlCommenter(sql: string): Record<string, string> | null {
  // Cheap exit for the common case: statements without a comment at either end.
  if (!sql.includes('*/')) return null;
  const end = sql.replace(/[\s;]+$/, '');
  if (end.endsWith('*/')) {
    const open = end.lastIndexOf('/*');
    if (open >= 0) {
      const tags = parseComment(end.slice(open + 2, -2));
      if (tags !== null) return tags;
    }
  }
  const start = sql.replace(/^\s+/, '');
  if (start.startsWith('/*')) {
    const close = start.indexOf('*/', 2);
    if (close >= 0) return parseComment(start.slice(2, close));
  }
  return null;
}

/** The pairs of a comment's body, or null unless the whole body is pairs. */
function parseComment(body: string): Record<string, string> | null {
  const text = body.trim();
  if (text === '') return null;
  const tags: Record<string, string> = {};
  PAIR.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    PAIR.lastIndex = at;
    const match = PAIR.exec(text);
    if (match === null) return null;
    tags[decode(match[1]!)] = decode(match[2]!.replace(/\\(.)/g, '$1'));
    at = PAIR.lastIndex;
  }
  return tags;
}

/** URL-decoded, or as written when it is not valid URL encoding (a hand-written comment). */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The tags that say where in the program a statement came from: all but the per-request ones
 * ({@link REQUEST_TAGS}) and those naming the stack ({@link STACK_TAGS}), keys sorted; null
 * when none is left.
 *
 * @example
 * stableTags({ traceparent: '00-…', route: '/x', controller: 'c' }); // => { controller: 'c', route: '/x' }
 */
export function stableTags(tags: Readonly<Record<string, string>> | undefined): Record<string, string> | null {
  if (tags === undefined) return null;
  const keys = Object.keys(tags)
    .filter((k) => !REQUEST_TAGS.includes(k) && !STACK_TAGS.includes(k))
    .sort();
  if (keys.length === 0) return null;
  return Object.fromEntries(keys.map((k) => [k, tags[k]!]));
}

/**
 * The SQL without its sqlcommenter comment (when it has one): the statement as the program
 * meant it, for comparing two statements as sent.
 *
 * @example
 * stripSqlCommenter("select 1 /*route='%2Fx'*\/"); // => 'select 1'
 */
export function stripSqlCommenter(sql: string): string {
  if (parseSqlCommenter(sql) === null) return sql;
  const end = sql.replace(/[\s;]+$/, '');
  if (end.endsWith('*/')) {
    const open = end.lastIndexOf('/*');
    if (open >= 0 && parseComment(end.slice(open + 2, -2)) !== null) return end.slice(0, open).trimEnd();
  }
  const start = sql.replace(/^\s+/, '');
  const close = start.indexOf('*/', 2);
  return start.slice(close + 2).trimStart();
}

/**
 * Tags as one short line: `controller=orders route=/orders` (keys sorted).
 *
 * @example
 * formatTags({ route: '/x', controller: 'c' }); // => 'controller=c route=/x'
 */
export function formatTags(tags: Readonly<Record<string, string>>): string {
  return Object.keys(tags)
    .sort()
    .map((k) => `${k}=${tags[k]}`)
    .join(' ');
}
