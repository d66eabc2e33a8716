/**
 * Which fetched columns a prompt actually uses (docs/design.md §5, "columns fetched but never used by
 * the prompt"). The test is textual — a value is used when its text shows up in the prompt —
 * because the prompt is the only output a strategy has: a column whose values never reach it
 * was fetched for nothing, or only to fetch something else (an id used in the next query).
 * That makes the verdict exact for a column reported unused, and conservative otherwise: a
 * short value can appear in the prompt by coincidence and so count as used.
 */
import { firstCodePoints } from '../render/prompt-renderer.js';
import { fingerprint } from './fingerprint.js';
import { dataRowValues, type CapturedValues } from '../wire/statement-tracker.js';

/** A statement and what it returned, as the recorder captured it. */
export interface CapturedStatement {
  sql: string;
  values: CapturedValues;
}

/** How one turn used one column of one statement shape (all its statements in the turn together). */
export interface ColumnUse {
  /** `fingerprintId` of the statements: the grouping key. */
  fingerprintId: string;
  /** Normalised SQL of the first of them, for display. */
  fingerprint: string;
  /** The first of them as sent. */
  sql: string;
  /** The column's name as the statement returned it. */
  column: string;
  /** Statements of this shape in the turn that returned the column. */
  statements: number;
  /** Payload bytes of the column's values over those statements (NULL counts 0). */
  bytes: number;
  /**
   * true when some value appears in the prompt; false when values were fetched and none
   * does; null when nothing can tell (only NULL or empty values, binary values, or a capture
   * cut short by its limit without a use among the values kept).
   */
  used: boolean | null;
}

/** Type OIDs whose text is a number. */
const NUMERIC_TYPES = new Set([20, 21, 23, 26, 700, 701, 1700]);
const BOOL_TYPE = 16;
const JSON_TYPES = new Set([114, 3802]);
/** date, timestamp, timestamptz: a renderer may show only the date. */
const DATE_TYPES = new Set([1082, 1114, 1184]);
/** Arrays of the types above and of text-like types (their elements are judged one by one). */
const ARRAY_ELEMENT: ReadonlyMap<number, number> = new Map([
  [1000, 16],
  [1005, 21],
  [1007, 23],
  [1016, 20],
  [1021, 700],
  [1022, 701],
  [1231, 1700],
  [1009, 25],
  [1015, 1043],
  [1014, 1042],
  [2951, 2950],
  [199, 114],
  [3807, 3802],
]);

/** A long value cut by the renderer (an excerpt) still counts when its start is in the prompt. */
const PREFIX_CODE_POINTS = 48;

const WORD_CHAR = /[\p{L}\p{N}_]/u;
const DIGIT = /[0-9]/;

/** Whether the character at `i` of `text` would make a match beside it part of a longer number or word. */
function glued(text: string, i: number, towards: -1 | 1, digitsOnly: boolean): boolean {
  const c = text[i];
  if (c === undefined) return false;
  if (digitsOnly) return DIGIT.test(c);
  return WORD_CHAR.test(c) || (c === '.' && DIGIT.test(text[i + towards] ?? ''));
}

/**
 * Whether `needle` occurs in `text` as a whole token: no letter, digit or decimal part glued
 * to it (with `digitsOnly`, just no digit: a date followed by `T09:00` still counts).
 */
function containsToken(text: string, needle: string, digitsOnly = false): boolean {
  if (needle === '') return false;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
    if (!glued(text, at - 1, -1, digitsOnly) && !glued(text, at + needle.length, 1, digitsOnly)) return true;
  }
  return false;
}

/** A string as it reads inside JSON (a canonical-JSON prompt escapes quotes, backslashes, newlines). */
function jsonEscaped(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}


/**
 * Whether a text value (or, for a long one, its first {@link PREFIX_CODE_POINTS} code points)
 * appears in the prompt, as is or JSON-escaped. Only the head is ever searched: the whole
 * value, trimmed, starts with its head and escaping is per character, so wherever the value
 * (or its escaped form) occurs its head does too — searching the whole 60 KB page as well
 * could never change the verdict, only cost the time.
 */
function textUsed(value: string, prompt: string): boolean | null {
  const trimmed = value.trim();
  if (trimmed === '') return null;
  const head = trimmed.length <= PREFIX_CODE_POINTS ? trimmed : firstCodePoints(trimmed, PREFIX_CODE_POINTS)!;
  if (prompt.includes(head)) return true;
  const escaped = jsonEscaped(head);
  return escaped !== head && prompt.includes(escaped);
}

/** Whether a number appears as a whole token, as the database wrote it or as JavaScript would. */
function numberUsed(value: string, prompt: string): boolean | null {
  if (value === '') return null;
  if (containsToken(prompt, value)) return true;
  const asJs = String(Number(value));
  return asJs !== value && Number.isFinite(Number(value)) ? containsToken(prompt, asJs) : false;
}

/** A boolean counts when the word a renderer would write for it appears. */
function boolUsed(value: string, prompt: string): boolean | null {
  if (value === 't') return containsToken(prompt, 'true');
  if (value === 'f') return containsToken(prompt, 'false');
  return null;
}

/** Non-empty string leaves of a JSON value. */
function stringLeaves(value: unknown, out: string[]): void {
  if (typeof value === 'string') {
    if (value !== '') out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) stringLeaves(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) stringLeaves(v, out);
  }
}

/** JSON: a container counts when any string leaf appears; a scalar as the value it holds. */
function jsonUsed(value: string, prompt: string): boolean | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return textUsed(value, prompt);
  }
  if (parsed === null) return null;
  if (typeof parsed === 'number') return numberUsed(value.trim(), prompt);
  if (typeof parsed === 'boolean') return containsToken(prompt, String(parsed));
  const leaves: string[] = [];
  stringLeaves(parsed, leaves);
  return anyUsed(leaves.map((leaf) => textUsed(leaf, prompt)));
}

/** Timestamps: the text as sent, or just its date (`2025-10-04`). */
function dateUsed(value: string, prompt: string): boolean | null {
  if (value === '') return null;
  if (prompt.includes(value)) return true;
  const date = /^\d{4,}-\d{2}-\d{2}/.exec(value);
  return date !== null && date[0] !== value ? containsToken(prompt, date[0], true) : false;
}

/** Elements of a PostgreSQL array literal (`{a,"b c",NULL}`), nested arrays flattened; NULL as null. */
function arrayElements(literal: string): (string | null)[] {
  const out: (string | null)[] = [];
  let i = literal.startsWith('[') ? literal.indexOf('=') + 1 : 0; // skip explicit bounds `[1:2]=`
  let current = '';
  let quoted = false;
  let inQuotes = false;
  let any = false;
  const flush = (): void => {
    if (any) out.push(!quoted && current === 'NULL' ? null : current);
    current = '';
    quoted = false;
    any = false;
  };
  for (; i < literal.length; i++) {
    const c = literal[i];
    if (inQuotes) {
      if (c === '\\') {
        current += literal[++i] ?? '';
      } else if (c === '"') {
        inQuotes = false;
      } else {
        current += c;
      }
    } else if (c === '"') {
      inQuotes = true;
      quoted = true;
      any = true;
    } else if (c === '{') {
      continue;
    } else if (c === ',' || c === '}') {
      flush();
    } else if (!/\s/.test(c)) {
      current += c;
      any = true;
    }
  }
  return out;
}

/** true if any is true; else false if any is false; else null. */
function anyUsed(verdicts: readonly (boolean | null)[]): boolean | null {
  let result: boolean | null = null;
  for (const v of verdicts) {
    if (v === true) return true;
    if (v === false) result = false;
  }
  return result;
}

/**
 * Whether one field value appears in the prompt: true, false, or null when it cannot tell
 * either way (NULL, empty text, an empty JSON container).
 *
 * @example
 * valueUsed('19.90', 1700, 'Price: 19.90'); // => true
 * valueUsed('["a","b"]', 3802, 'Tags: b'); // => true
 * valueUsed('', 25, 'anything'); // => null
 */
export function valueUsed(value: string | null, typeOid: number, prompt: string): boolean | null {
  if (value === null) return null;
  if (NUMERIC_TYPES.has(typeOid)) return numberUsed(value, prompt);
  if (typeOid === BOOL_TYPE) return boolUsed(value, prompt);
  if (JSON_TYPES.has(typeOid)) return jsonUsed(value, prompt);
  if (DATE_TYPES.has(typeOid)) return dateUsed(value, prompt);
  const element = ARRAY_ELEMENT.get(typeOid);
  if (element !== undefined) return anyUsed(arrayElements(value).map((e) => valueUsed(e, element, prompt)));
  return textUsed(value, prompt);
}

/** Bytes of a long text value decoded to judge it: its first {@link PREFIX_CODE_POINTS} code points fit with room to spare. */
const PREFIX_BYTES = 1024;

/**
 * A field's text as {@link valueUsed} needs it. A long plain-text value (a 60 KB page) is only
 * ever searched by its first {@link PREFIX_CODE_POINTS} code points after leading whitespace
 * (see textUsed), so only its first {@link PREFIX_BYTES} bytes are decoded when they hold more
 * than that: the same verdict, without decoding the rest. Any other type is decoded whole.
 */
function textOf(field: Buffer, typeOid: number): string {
  const plain = !NUMERIC_TYPES.has(typeOid) && typeOid !== BOOL_TYPE && !JSON_TYPES.has(typeOid) && !DATE_TYPES.has(typeOid) && !ARRAY_ELEMENT.has(typeOid);
  if (!plain || field.length <= PREFIX_BYTES) return field.toString('utf8');
  const prefix = field.toString('utf8', 0, PREFIX_BYTES).trimStart();
  // More code points than the head needs before any trailing whitespace (which textUsed would
  // trim as the value's end), plus one that a cut multi-byte character may have spoilt.
  let count = 0;
  for (const _ of prefix.trimEnd()) if (++count > PREFIX_CODE_POINTS + 1) return prefix;
  return field.toString('utf8');
}

/**
 * Per (statement shape, column), whether the turn's prompt uses the column's values, and
 * what the values cost in payload bytes. Duplicate column names within a statement are
 * judged together.
 *
 * @example
 * const uses = columnUsage([{ sql, values }], prompt);
 * uses.filter((u) => u.used === false); // columns fetched for nothing in this turn
 */
export function columnUsage(statements: readonly CapturedStatement[], prompt: string): ColumnUse[] {
  const byKey = new Map<string, ColumnUse & { verdicts: (boolean | null)[]; truncated: boolean }>();
  // The same value recurs (an id on every row, a status): judged once per prompt.
  const verdicts = new Map<string, boolean | null>();
  const judge = (field: Buffer, typeOid: number): boolean | null => {
    const text = textOf(field, typeOid);
    const key = `${typeOid}\u0000${text}`;
    let verdict = verdicts.get(key);
    if (verdict === undefined) {
      verdict = valueUsed(text, typeOid, prompt);
      verdicts.set(key, verdict);
    }
    return verdict;
  };
  for (const s of statements) {
    const shape = fingerprint(s.sql);
    const seenHere = new Set<string>();
    for (const result of s.values.results) {
      const { columns } = result;
      const verdictsByColumn: (boolean | null)[][] = columns.map(() => []);
      const bytesByColumn = columns.map(() => 0);
      const settled = columns.map(() => false);
      for (const row of result.rows) {
        const fields = dataRowValues(row);
        // A row that does not match its description cannot be attributed.
        if (fields.length !== columns.length) continue;
        fields.forEach((field, i) => {
          if (field === null) return;
          bytesByColumn[i] += field.length;
          // One value in the prompt settles the column: the rest cannot change anyUsed's verdict.
          if (settled[i]) return;
          // Binary values have no text to look for.
          const verdict = columns[i]!.format === 0 ? judge(field, columns[i]!.typeOid) : null;
          verdictsByColumn[i]!.push(verdict);
          if (verdict === true) settled[i] = true;
        });
      }
      columns.forEach((column, i) => {
        const key = `${shape.text}\u0000${column.name}`;
        let use = byKey.get(key);
        if (use === undefined) {
          use = {
            fingerprintId: shape.id,
            fingerprint: shape.text,
            sql: s.sql,
            column: column.name,
            statements: 0,
            bytes: 0,
            used: null,
            verdicts: [],
            truncated: false,
          };
          byKey.set(key, use);
        }
        if (!seenHere.has(key)) {
          use.statements += 1;
          seenHere.add(key);
        }
        use.bytes += bytesByColumn[i]!;
        use.verdicts.push(anyUsed(verdictsByColumn[i]!));
        use.truncated ||= s.values.truncated;
      });
    }
  }
  return [...byKey.values()].map(({ verdicts, truncated, ...use }) => {
    const used = anyUsed(verdicts);
    // Values past the capture limit were not seen: one of them might have been used.
    return { ...use, used: used === false && truncated ? null : used };
  });
}
