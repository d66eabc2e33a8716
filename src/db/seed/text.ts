/**
 * Text helpers for the generator: template filling, localised numbers, keyword tokens and
 * size-bounded paragraphs. Sizes are UTF-8 bytes (Persian and Arabic letters take two).
 */
import type { Rng } from './prng.js';
import type { Lang } from './lexicon.js';

/** A placeholder value: a fixed string, or a function drawn once per occurrence. */
export type FillValue = string | (() => string);

/**
 * Replaces `{name}` placeholders. An unknown placeholder is a bug in a word list, so it
 * throws rather than leaking `{name}` into the data.
 */
export function fill(template: string, vars: Readonly<Record<string, FillValue>>): string {
  return template.replace(/\{([a-z]+)\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`template placeholder {${name}} has no value: ${template}`);
    return typeof value === 'function' ? value() : value;
  });
}

const PERSIAN_DIGITS = '۰۱۲۳۴۵۶۷۸۹';
const ARABIC_DIGITS = '٠١٢٣٤٥٦٧٨٩';

/** Writes digits the way people of `lang` often type them (Persian/Arabic-Indic digits, sometimes). */
export function localDigits(lang: Lang, text: string, rng: Rng): string {
  let digits: string | null = null;
  if (lang === 'fa' && rng.chance(0.6)) digits = PERSIAN_DIGITS;
  else if (lang === 'ar' && rng.chance(0.4)) digits = ARABIC_DIGITS;
  if (digits === null) return text;
  const table = digits;
  return text.replace(/[0-9]/g, (d) => table[d.charCodeAt(0) - 48]);
}

/** Groups thousands with commas: 1250000 → "1,250,000". */
export function groupThousands(n: number): string {
  const s = String(n);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0) out += ',';
    out += s[i];
  }
  return out;
}

const TOKEN = /[\p{L}\p{M}\p{N}]+/gu;

/**
 * The tokens docs/design.md §3.6 matches FAQ keywords with: lowercase, maximal runs of letters, marks
 * and digits, at least 3 code points. Keywords are stored in this same form.
 */
export function keywordTokens(text: string): string[] {
  const out: string[] = [];
  for (const match of text.toLowerCase().matchAll(TOKEN)) {
    const token = match[0];
    if ([...token].length >= 3) out.push(token);
  }
  return out;
}

/** UTF-8 byte length. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Distinct values in first-seen order. */
export function distinct<T>(items: Iterable<T>): T[] {
  return [...new Set(items)];
}

const MS_PER_DAY = 86_400_000;
const dayPrefixes = new Map<number, string>();

function pad(n: number, width: number): string {
  const s = String(n);
  return s.length >= width ? s : '0'.repeat(width - s.length) + s;
}

/**
 * Formats whole milliseconds since the epoch as ISO-8601 UTC (`2025-09-01T09:00:00.000Z`),
 * exactly as `Date#toISOString` does; the date part is cached per day because `large` formats
 * millions of timestamps.
 */
export function isoTime(ms: number): string {
  const day = Math.floor(ms / MS_PER_DAY);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    prefix = new Date(day * MS_PER_DAY).toISOString().slice(0, 11);
    dayPrefixes.set(day, prefix);
  }
  let rest = ms - day * MS_PER_DAY;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  return `${prefix}${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}.${pad(rest - seconds * 1000, 3)}Z`;
}

/** Formats integer cents as a 2-decimal string (`1990` → `"19.90"`), never through a float. */
export function centsToDecimal(cents: number): string {
  const whole = Math.floor(cents / 100);
  const rest = cents - whole * 100;
  return `${whole}.${rest < 10 ? '0' : ''}${rest}`;
}

const LATIN_FOLD: Readonly<Record<string, string>> = {
  ä: 'ae', ö: 'oe', ü: 'ue', ß: 'ss', á: 'a', à: 'a', â: 'a', é: 'e', è: 'e', ê: 'e',
  í: 'i', ì: 'i', î: 'i', ó: 'o', ò: 'o', ô: 'o', ú: 'u', ù: 'u', û: 'u', ñ: 'n', ç: 'c',
};

/** A URL-safe slug of Latin text (non-Latin text is percent-encoded, as real sites do). */
export function slug(text: string): string {
  const lowered = text.toLowerCase().trim();
  // A fixed table rather than Unicode normalisation: slugs must not depend on the ICU version.
  const latin = lowered
    .replace(/[äöüßáàâéèêíìîóòôúùûñç]/g, (c) => LATIN_FOLD[c] ?? c)
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (latin.length >= 3) return latin;
  return encodeURIComponent(lowered.replace(/\s+/g, '-'));
}
