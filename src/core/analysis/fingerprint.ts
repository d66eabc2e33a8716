/**
 * SQL fingerprints: the statement's shape with every value taken out, so that the 6
 * `SELECT … WHERE "id" = $1` of an N+1 loop, or the same query with inlined literals, group
 * together (docs/design.md §5).
 *
 * The shape comes from PostgreSQL's own parser (libpg_query, compiled to WebAssembly and
 * shipped inside the `libpg-query` package): a hand-written normaliser can only guess where a
 * literal ends, the server's grammar knows. Two things come out of it:
 * - {@link fingerprintId}: the parser's fingerprint hash, blind to literal values, parameter
 *   numbers and IN-list lengths — what findings group on;
 * - {@link fingerprintSql}: the parser's normalised SQL (literals replaced by `$n`), tidied so
 *   that statements of one shape read the same — what reports show.
 *
 * A statement the parser rejects still gets a fingerprint, from a lexical normaliser, marked
 * with {@link UNPARSED_PREFIX} so reports can say it was not parsed. Nothing here throws. The
 * parser loads asynchronously ({@link initFingerprinting}); fingerprinting stays synchronous.
 */
import { createHash } from 'node:crypto';

type Parser = Pick<typeof import('libpg-query'), 'normalizeSync' | 'fingerprintSync' | 'scanSync'>;

/** The parser once loaded; null before, or for good when it could not be loaded. */
let parser: Parser | null = null;
let loading: Promise<void> | null = null;

/**
 * Loads the parser (≈ 0.1 s to compile its WebAssembly); call once and await before
 * fingerprinting. Later calls return the same promise, and it never rejects: a parser that
 * cannot be loaded leaves every statement to the lexical fallback. Statements fingerprinted
 * before it resolves take that fallback too, so await it wherever recording starts.
 *
 * Why not a top-level await in this module: a CommonJS user strategy that imports ctxbench
 * (through tsx, or `require` of ESM on Node 22+) cannot load a module graph with one.
 *
 * @example
 * await initFingerprinting();
 * fingerprintSql('select * from t where id = 1'); // => 'select * from t where id = $1'
 */
export function initFingerprinting(): Promise<void> {
  loading ??= (async () => {
    try {
      const loaded = await import('libpg-query');
      await loaded.loadModule();
      parser = loaded;
    } catch {
      parser = null;
    }
  })();
  return loading;
}

/**
 * Whether the parser is loaded (false before {@link initFingerprinting} resolves, or when it
 * could not be loaded).
 *
 * @example
 * await initFingerprinting();
 * fingerprintParserReady(); // => true
 */
export function fingerprintParserReady(): boolean {
  return parser !== null;
}

/**
 * Starts the fingerprint of a statement the parser could not parse.
 *
 * @example
 * fingerprintSql('selec 1').startsWith(UNPARSED_PREFIX); // => true
 */
export const UNPARSED_PREFIX = '/* unparsed */ ';

/** Everything known about one statement's shape. */
export interface SqlFingerprint {
  /** Grouping key: the parser's 16-hex-digit hash, or `unparsed:`/`empty:` + a hash of `text`. */
  id: string;
  /** Human-readable shape: normalised SQL with `$n` for every value. */
  text: string;
  /** False when the parser rejected the statement and the lexical fallback was used. */
  parsed: boolean;
}

/** A lexical piece of a statement. */
interface Token {
  kind: 'word' | 'ident' | 'literal' | 'placeholder' | 'punct' | 'space';
  text: string;
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DIGIT = /[0-9]/;
const NUMBER =
  /^(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;
const POSITIONAL = /^\$[0-9]+/;
const POSITIONAL_ONLY = /^\$[0-9]+$/;

/** Operators and punctuation after which a `-` is a sign, not a subtraction. */
const SIGN_AFTER_PUNCT = new Set(['(', ',', '[', '=', '<', '>', '+', '-', '*', '/', '%', '^', '|', '!', '~', '&', '#', ':']);
/** Keywords after which a `-` is a sign (`SELECT -1`, `LIMIT -1`, `THEN -1`). */
const SIGN_AFTER_WORD = new Set([
  'select', 'where', 'and', 'or', 'not', 'then', 'else', 'when', 'case', 'in', 'is',
  'between', 'values', 'limit', 'offset', 'returning', 'on', 'as', 'by', 'like', 'ilike',
  'any', 'all', 'some', 'set', 'having', 'distinct', 'array', 'return', 'default',
]);

/** Index just past the closing `quote` of a literal opened at `start`, honouring doubled quotes (and backslashes when `backslashEscapes`). */
function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i += 1;
  }
  return sql.length;
}

/** Index just past a (possibly nested) block comment opened at `start`. */
function skipBlockComment(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth += 1;
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  return sql.length;
}

/** Whether a `-` following these tokens is a sign: nothing significant before it, an operator, or a keyword. */
function minusIsSign(tokens: Token[]): boolean {
  for (let k = tokens.length - 1; k >= 0; k--) {
    const t = tokens[k];
    if (t.kind === 'space') continue;
    if (t.kind === 'punct') return SIGN_AFTER_PUNCT.has(t.text[t.text.length - 1]);
    if (t.kind === 'word') return SIGN_AFTER_WORD.has(t.text.toLowerCase());
    return false;
  }
  return true;
}

/**
 * Splits SQL into tokens, dropping comments and collapsing whitespace. With
 * `replaceLiterals`, every literal (and a sign before it) becomes a placeholder — the
 * fallback for SQL the parser rejects; without it, literals are kept and only `$n`
 * parameters are placeholders — for tidying text the parser already normalised.
 */
function tokenize(sql: string, replaceLiterals: boolean, raw = false): Token[] {
  const tokens: Token[] = [];
  const push = (kind: Token['kind'], text: string): void => {
    const last = tokens[tokens.length - 1];
    if (kind === 'space' && raw) {
      tokens.push({ kind, text });
    } else if (kind === 'space') {
      if (last === undefined || last.kind === 'space') return;
      tokens.push({ kind, text: ' ' });
    } else {
      tokens.push({ kind, text });
    }
  };
  const literal = (text: string): void => push(replaceLiterals ? 'placeholder' : 'literal', text);
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      push('space', c);
      i += 1;
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end + 1;
      push('space', sql.slice(i, stop));
      i = stop;
    } else if (c === '/' && next === '*') {
      const stop = skipBlockComment(sql, i);
      push('space', sql.slice(i, stop));
      i = stop;
    } else if (c === "'") {
      const end = skipQuoted(sql, i, "'", false);
      literal(sql.slice(i, end));
      i = end;
    } else if (c === '"') {
      const end = skipQuoted(sql, i, '"', false);
      push('ident', sql.slice(i, end));
      i = end;
    } else if ((c === 'E' || c === 'e') && next === "'") {
      const end = skipQuoted(sql, i + 1, "'", true);
      literal(sql.slice(i, end));
      i = end;
    } else if ((c === 'B' || c === 'b' || c === 'X' || c === 'x' || c === 'N' || c === 'n') && next === "'") {
      const end = skipQuoted(sql, i + 1, "'", false);
      literal(sql.slice(i, end));
      i = end;
    } else if ((c === 'U' || c === 'u') && next === '&' && (sql[i + 2] === "'" || sql[i + 2] === '"')) {
      const quote = sql[i + 2];
      const end = skipQuoted(sql, i + 2, quote, false);
      // A following UESCAPE clause is rare enough to be kept as written.
      if (quote === "'") literal(sql.slice(i, end));
      else push('ident', sql.slice(i, end));
      i = end;
    } else if (c === '$') {
      const rest = sql.slice(i, i + 200);
      const positional = POSITIONAL.exec(rest);
      const tag = positional === null ? DOLLAR_TAG.exec(rest) : null;
      if (positional !== null) {
        push('placeholder', positional[0]);
        i += positional[0].length;
      } else if (tag !== null) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        const end = close === -1 ? sql.length : close + tag[0].length;
        literal(sql.slice(i, end));
        i = end;
      } else {
        push('punct', c);
        i += 1;
      }
    } else if (IDENT_START.test(c)) {
      let end = i + 1;
      while (end < sql.length && IDENT_PART.test(sql[end])) end += 1;
      push('word', sql.slice(i, end));
      i = end;
    } else if (DIGIT.test(c) || (c === '.' && next !== undefined && DIGIT.test(next))) {
      const m = NUMBER.exec(sql.slice(i, i + 400));
      const len = m === null ? 1 : m[0].length;
      literal(sql.slice(i, i + len));
      i += len;
    } else if (replaceLiterals && c === '-' && minusIsSign(tokens)) {
      // A sign before a number or parameter belongs to the value: `= -5` and `= 5` share a fingerprint.
      let j = i + 1;
      while (j < sql.length && (sql[j] === ' ' || sql[j] === '\t')) j += 1;
      const after = sql[j];
      const positional = POSITIONAL.exec(sql.slice(j, j + 20));
      if (after !== undefined && (DIGIT.test(after) || (after === '.' && DIGIT.test(sql[j + 1] ?? '')))) {
        const m = NUMBER.exec(sql.slice(j, j + 400));
        i = j + (m === null ? 1 : m[0].length);
        push('placeholder', '-');
      } else if (positional !== null) {
        i = j + positional[0].length;
        push('placeholder', positional[0]);
      } else {
        push('punct', c);
        i += 1;
      }
    } else {
      // Operators are runs of operator characters; keep `::`, `<=`, `->>` whole.
      let end = i + 1;
      if (/[+\-*/<>=~!@#%^&|`?:]/.test(c)) {
        while (
          end < sql.length &&
          /[+\-*/<>=~!@#%^&|`?:]/.test(sql[end]) &&
          !sql.startsWith('--', end) &&
          !sql.startsWith('/*', end)
        ) {
          end += 1;
        }
      }
      push('punct', sql.slice(i, end));
      i = end;
    }
  }
  return tokens;
}

/** Replaces `IN ($1, $2, $3)` by `IN (...)` so lists of any length read the same, as they hash the same. */
function collapseInLists(tokens: Token[]): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i];
    if (t.kind === 'word' && t.text.toLowerCase() === 'in') {
      let j = i + 1;
      if (tokens[j]?.kind === 'space') j += 1;
      if (tokens[j]?.kind === 'punct' && tokens[j].text === '(') {
        let k = j + 1;
        let values = 0;
        let expectValue = true;
        let closed = -1;
        while (k < tokens.length) {
          const u = tokens[k];
          if (u.kind === 'space') {
            k += 1;
          } else if (expectValue && u.kind === 'placeholder') {
            values += 1;
            expectValue = false;
            k += 1;
          } else if (!expectValue && u.kind === 'punct' && u.text === ',') {
            expectValue = true;
            k += 1;
          } else if (!expectValue && u.kind === 'punct' && u.text === ')') {
            closed = k;
            break;
          } else {
            break;
          }
        }
        if (closed !== -1 && values > 0) {
          out.push(t, { kind: 'space', text: ' ' }, { kind: 'punct', text: '(...)' });
          i = closed + 1;
          continue;
        }
      }
    }
    out.push(t);
    i += 1;
  }
  return out;
}

/**
 * Joins tokens into text, numbering placeholders `$1, $2, …` in order of appearance: a
 * parameter keeps one number wherever it recurs, each literal gets its own. The parser numbers
 * new placeholders after the statement's own parameters (`where a = $2 and b = $1`), and IN
 * lists shift later numbers; renumbering makes one shape one text.
 */
function render(tokens: Token[]): string {
  const numbers = new Map<string, number>();
  let next = 0;
  let out = '';
  for (const t of tokens) {
    if (t.kind !== 'placeholder') {
      out += t.text;
      continue;
    }
    if (POSITIONAL_ONLY.test(t.text)) {
      let n = numbers.get(t.text);
      if (n === undefined) {
        n = ++next;
        numbers.set(t.text, n);
      }
      out += `$${n}`;
    } else {
      out += `$${++next}`;
    }
  }
  // A trailing semicolon does not change the statement.
  return out.trim().replace(/\s*;$/, '');
}

/** A short stable hash for shapes the parser did not hash. */
function localHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The lexical fallback: literals replaced, comments dropped, IN lists collapsed. */
function lexicalFingerprint(sql: string): string {
  return render(collapseInLists(tokenize(sql, true)));
}

function compute(sql: string): SqlFingerprint {
  // No statement at all: nothing to normalise, the text (often a marker comment such as the
  // tracker's `/* sync */`) is all there is to show.
  const shown = (): SqlFingerprint => {
    const text = sql.replace(/\s+/g, ' ').trim();
    return { id: `empty:${localHash(text)}`, text, parsed: true };
  };
  if (sql.trim() === '') return shown();
  // The parser reads a C string: text after a NUL would silently go unseen.
  if (parser !== null && !sql.includes('\u0000')) {
    try {
      const normalised = parser.normalizeSync(sql);
      const id = parser.fingerprintSync(sql);
      // libpg-query reports some failures as a returned message instead of throwing.
      if (/^[0-9a-f]{16}$/.test(id) && !normalised.startsWith('Invalid input')) {
        const text = render(collapseInLists(tokenize(normalised, false)));
        return text === '' ? shown() : { id, text, parsed: true };
      }
    } catch {
      // A syntax error (or a parser fault): fall through to the lexical fingerprint.
    }
  }
  const lexical = lexicalFingerprint(sql);
  if (lexical === '') return shown();
  const text = UNPARSED_PREFIX + lexical;
  return { id: `unparsed:${localHash(text)}`, text, parsed: false };
}

/** Recent results: an N+1 loop sends one SQL text many times, and each parse costs tens of µs. */
const cache = new Map<string, SqlFingerprint>();
const CACHE_ENTRIES = 2000;
/** Longer SQL (bulk inserts) is not worth holding on to. */
const CACHE_MAX_SQL = 16_384;

/**
 * The statement's shape, as text and as a grouping id. Never throws.
 *
 * @example
 * fingerprint(`select * from "customers" where "id" = 17`);
 * // => { id: '…16 hex digits…', text: 'select * from "customers" where "id" = $1', parsed: true }
 */
export function fingerprint(sql: string): SqlFingerprint {
  // Start loading for callers that never awaited it; this call itself cannot wait.
  if (loading === null) void initFingerprinting();
  const hit = cache.get(sql);
  if (hit !== undefined) return hit;
  const result = compute(sql);
  // A fallback taken only because the parser is still loading must not outlive the loading.
  if (sql.length <= CACHE_MAX_SQL && parser !== null) {
    // Oldest first out: Map iterates in insertion order.
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(sql, result);
  }
  return result;
}

/**
 * The statement's normalised SQL: every literal and parameter replaced by `$n` (numbered in
 * order of appearance), IN lists collapsed to `IN (...)`, comments dropped, whitespace
 * collapsed; identifiers and keyword case as written. SQL the parser rejects gets a lexical
 * normalisation prefixed by {@link UNPARSED_PREFIX}.
 *
 * @example
 * fingerprintSql(`SELECT * FROM "customers" WHERE "id" = 17 AND name = 'O''Brien'`);
 * // => 'SELECT * FROM "customers" WHERE "id" = $1 AND name = $2'
 * fingerprintSql('select id from t where id in (1, 2, 3) -- ids');
 * // => 'select id from t where id in (...)'
 * fingerprintSql('selec 1');
 * // => '/* unparsed *\/ selec $1'
 */
export function fingerprintSql(sql: string): string {
  return fingerprint(sql).text;
}

/**
 * The parser's fingerprint hash (16 hex digits): equal for statements that differ only in
 * literal values, parameter numbers, IN-list length or select-list order. For SQL the parser
 * rejects, `unparsed:` and a hash of the lexical normalisation.
 *
 * @example
 * fingerprintId('select * from t where id in (1, 2)') === fingerprintId('select * from t where id in ($1, $2, $3)'); // => true
 */
export function fingerprintId(sql: string): string {
  return fingerprint(sql).id;
}

/** Scanner tokens that are constants: strings (also E'', $$…$$, N''), numbers, bit and hex strings. */
const CONSTANT_TOKENS = new Set(['SCONST', 'USCONST', 'ICONST', 'FCONST', 'BCONST', 'XCONST']);
/** Constants the scanner names by a generic token: `B'101'`, `X'ff'`, `U&'…'`. */
const PREFIXED_STRING = /^(?:[bBxX]|[uU]&)'/;

/**
 * The statement with every literal — string constants (`'…'`, `E'…'`, `$$…$$`, `N'…'`,
 * `B'…'`, `X'…'`, `U&'…'`) and numeric constants — replaced by what `replace` returns for its
 * text; everything else (keywords, identifiers, `$n` parameters, comments, whitespace) is kept
 * as written. Literals are found by PostgreSQL's own scanner, or the lexical fallback when
 * the parser is not loaded or rejects the text. Never throws.
 *
 * @example
 * await initFingerprinting();
 * redactLiterals("select * from t where email = 'a@b.c' limit 5", () => "'?'");
 * // => "select * from t where email = '?' limit '?'"
 */
export function redactLiterals(sql: string, replace: (literal: string) => string): string {
  if (parser !== null && !sql.includes('\u0000')) {
    try {
      const { tokens } = parser.scanSync(sql);
      // Token positions count UTF-8 bytes.
      const bytes = Buffer.from(sql, 'utf8');
      let out = '';
      let at = 0;
      for (const t of tokens) {
        if (!CONSTANT_TOKENS.has(t.tokenName) && !PREFIXED_STRING.test(t.text)) continue;
        out += bytes.toString('utf8', at, t.start) + replace(bytes.toString('utf8', t.start, t.end));
        at = t.end;
      }
      return out + bytes.toString('utf8', at);
    } catch {
      // An unterminated literal, say: the lexical scan below still finds the rest.
    }
  }
  return tokenize(sql, false, true)
    .map((t) => (t.kind === 'literal' ? replace(t.text) : t.text))
    .join('');
}

/**
 * Whether a fingerprint text came from the lexical fallback rather than the parser.
 *
 * @example
 * isUnparsedFingerprint(fingerprintSql('selec 1')); // => true
 */
export function isUnparsedFingerprint(text: string): boolean {
  return text.startsWith(UNPARSED_PREFIX);
}
