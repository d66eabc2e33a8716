/**
 * Parsing and validating the options the commands share. Every problem is collected and
 * reported at once, each naming its flag.
 */
import { UsageError, maskUrl } from '../core/errors.js';
import { resolveScale } from '../db/seed/scales.js';
import type { CliIo } from './io.js';
import { parseTokenizerName, type TokenizerName } from '../core/tokens.js';

/** Collects problems; `done()` throws them all as one UsageError. */
export class Problems {
  readonly list: string[] = [];
  add(problem: string): void {
    this.list.push(problem);
  }
  done(): void {
    if (this.list.length > 0) throw new UsageError(this.list);
  }
  /** Adds the problems a UsageError names (so they are reported with the others); rethrows anything else. */
  collect(error: unknown): void {
    if (error instanceof UsageError) for (const p of error.problems) this.add(p);
    else throw error;
  }
}

export function parseWholeNumber(problems: Problems, flag: string, raw: string | undefined, min: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    problems.add(`${flag}: expected a whole number ≥ ${min}, got "${raw}"`);
    return undefined;
  }
  return Number(raw);
}

/**
 * `5s`, `500ms` or a bare number of milliseconds.
 *
 * @example
 * parseDuration(problems, '--turn-timeout', '60s') // 60000
 */
export function parseDuration(problems: Problems, flag: string, raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(raw.trim());
  if (!m) {
    problems.add(`${flag}: expected a duration such as 5s or 500ms, got "${raw}"`);
    return undefined;
  }
  return m[2] === 's' ? Number(m[1]) * 1000 : Number(m[1]);
}

export function parseChoice<T extends string>(problems: Problems, flag: string, raw: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(raw)) {
    problems.add(`${flag}: expected one of ${choices.join(', ')}, got "${raw}"`);
    return choices[0]!;
  }
  return raw as T;
}

/** `--tokenizer NAME|none`: undefined when not given (the library's default applies). */
export function parseTokenizer(problems: Problems, raw: string | undefined): TokenizerName | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseTokenizerName(raw);
  } catch (error) {
    problems.collect(error);
    return undefined;
  }
}

export function checkScale(problems: Problems, raw: string | undefined): void {
  if (raw === undefined) return;
  try {
    resolveScale(raw);
  } catch (error) {
    problems.add(error instanceof UsageError ? error.problems.join('; ') : String(error));
  }
}

export function parseList(raw: string | undefined): string[] | undefined {
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * Why `url` is not a usable postgres:// URL (a usage problem, exit 2: never a connection
 * attempt that fails as if the database were down), or null. The password is never shown.
 *
 * @example
 * postgresUrlProblem('postgres://h:abc/db') // 'expected a port number after the host, in postgres://h:abc/db'
 */
export function postgresUrlProblem(url: string): string | null {
  if (!/^postgres(ql)?:\/\//i.test(url)) return 'expected a postgres:// or postgresql:// URL';
  try {
    new URL(url);
    return null;
  } catch {
    const port = /^[a-z]+:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/?#]*):([^/?#]*)/i.exec(url)?.[1];
    if (port !== undefined && !(/^\d+$/.test(port) && Number(port) <= 65535)) {
      return `expected a port number (0–65535) after the host, got "${port}" in ${maskUrl(url)}`;
    }
    return `not a valid URL: ${maskUrl(url)}`;
  }
}

/** `--db`, else DATABASE_URL, else the embedded database. */
export function databaseUrl(problems: Problems, flag: string | undefined, io: CliIo): string | undefined {
  const url = flag ?? (io.env.DATABASE_URL || undefined);
  if (url === undefined) return undefined;
  const problem = postgresUrlProblem(url);
  if (problem !== null) {
    problems.add(`--db: ${problem}${flag === undefined ? ' (from DATABASE_URL)' : ''}`);
    return undefined;
  }
  return url;
}
