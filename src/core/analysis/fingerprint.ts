/**
 * SQL fingerprints: the statement's shape with every value taken out, so that the 6
 * `SELECT … WHERE "id" = $1` of an N+1 loop, or the same query with inlined literals, group
 * together (DESIGN §5). A small hand-written scanner rather than a regex chain, because
 * literals, quoted identifiers, comments and dollar quotes must be told apart to avoid
 * mangling text that merely looks like a number or a comment.
 */

/** A lexical piece of a statement, after literals have been replaced. */
interface Token {
  kind: 'word' | 'ident' | 'placeholder' | 'punct' | 'space';
  text: string;
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DIGIT = /[0-9]/;
const NUMBER =
  /^(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;
const POSITIONAL = /^\$[0-9]+/;

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

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const push = (kind: Token['kind'], text: string): void => {
    const last = tokens[tokens.length - 1];
    if (kind === 'space') {
      if (last === undefined || last.kind === 'space') return;
      tokens.push({ kind, text: ' ' });
    } else {
      tokens.push({ kind, text });
    }
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      push('space', ' ');
      i += 1;
    } else if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end + 1;
      push('space', ' ');
    } else if (c === '/' && next === '*') {
      i = skipBlockComment(sql, i);
      push('space', ' ');
    } else if (c === "'") {
      i = skipQuoted(sql, i, "'", false);
      push('placeholder', '?');
    } else if (c === '"') {
      const end = skipQuoted(sql, i, '"', false);
      push('ident', sql.slice(i, end));
      i = end;
    } else if ((c === 'E' || c === 'e') && next === "'") {
      i = skipQuoted(sql, i + 1, "'", true);
      push('placeholder', '?');
    } else if ((c === 'B' || c === 'b' || c === 'X' || c === 'x' || c === 'N' || c === 'n') && next === "'") {
      i = skipQuoted(sql, i + 1, "'", false);
      push('placeholder', '?');
    } else if ((c === 'U' || c === 'u') && next === '&' && (sql[i + 2] === "'" || sql[i + 2] === '"')) {
      const quote = sql[i + 2];
      const end = skipQuoted(sql, i + 2, quote, false);
      // A following UESCAPE clause is rare enough to be kept as written.
      if (quote === "'") {
        push('placeholder', '?');
      } else {
        push('ident', sql.slice(i, end));
      }
      i = end;
    } else if (c === '$') {
      const rest = sql.slice(i, i + 200);
      const positional = POSITIONAL.exec(rest);
      const tag = positional === null ? DOLLAR_TAG.exec(rest) : null;
      if (positional !== null) {
        push('placeholder', '?');
        i += positional[0].length;
      } else if (tag !== null) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? sql.length : close + tag[0].length;
        push('placeholder', '?');
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
      push('placeholder', '?');
      i += len;
    } else if (c === '-' && minusIsSign(tokens)) {
      // A sign before a number or parameter belongs to the value: `= -5` and `= 5` share a fingerprint.
      let j = i + 1;
      while (j < sql.length && (sql[j] === ' ' || sql[j] === '\t')) j += 1;
      const after = sql[j];
      if (after !== undefined && (DIGIT.test(after) || (after === '.' && DIGIT.test(sql[j + 1] ?? '')))) {
        const m = NUMBER.exec(sql.slice(j, j + 400));
        i = j + (m === null ? 1 : m[0].length);
        push('placeholder', '?');
      } else if (after === '$' && POSITIONAL.test(sql.slice(j, j + 20))) {
        i = j + (POSITIONAL.exec(sql.slice(j, j + 20)) as RegExpExecArray)[0].length;
        push('placeholder', '?');
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

/** Replaces `IN (?, ?, ?)` by `IN (...)` so lists of any length share one fingerprint. */
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
 * The statement with literals and parameters replaced by `?`, `IN` lists collapsed to
 * `IN (...)`, comments dropped and whitespace collapsed. Identifiers (quoted or not) and
 * keyword case are kept as written.
 *
 * @example
 * fingerprintSql(`SELECT * FROM "customers" WHERE "id" = $1 AND name = 'O''Brien'`);
 * // => 'SELECT * FROM "customers" WHERE "id" = ? AND name = ?'
 * fingerprintSql('select id from t where id in (1, 2, 3) -- ids');
 * // => 'select id from t where id in (...)'
 */
export function fingerprintSql(sql: string): string {
  return collapseInLists(tokenize(sql))
    .map((t) => t.text)
    .join('')
    .trim();
}
