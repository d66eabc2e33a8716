/**
 * Strategies from files: `--strategies naive,./my-strategy.ts`. A file exports (default) what
 * `defineStrategy` returns. TypeScript loads with no build step through tsx's loader API.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from '../errors.js';
import type { Strategy } from '../types.js';
import { builtInStrategies } from './index.js';

/** Whether a `--strategies` entry names a file rather than a built-in strategy. */
export function isStrategyPath(spec: string): boolean {
  return /[\\/]/.test(spec) || /\.(c|m)?(j|t)s$/.test(spec);
}

/**
 * Loads one strategy file. Problems (missing file, syntax error, wrong export) are usage
 * errors naming the file (exit 2).
 *
 * @example
 * const mine = await loadStrategyFile('./strategies/mine.ts');
 */
export async function loadStrategyFile(spec: string, cwd: string = process.cwd()): Promise<Strategy<any>> {
  const file = path.resolve(cwd, spec);
  if (!existsSync(file)) throw new UsageError(`--strategies: strategy file ${spec} does not exist`);
  let namespace: Record<string, unknown>;
  try {
    if (/\.(c|m)?ts$/.test(file)) {
      const { tsImport } = await import('tsx/esm/api');
      namespace = await tsImport(pathToFileURL(file).href, import.meta.url);
    } else {
      namespace = await import(pathToFileURL(file).href);
    }
  } catch (error) {
    const syntax = await syntaxErrorOf(error, file, spec);
    if (syntax !== null) throw new UsageError(`--strategies: ${syntax}`, { cause: error });
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new UsageError(`--strategies: cannot load ${spec}: ${message}`, { cause: error });
  }
  let exported: unknown = namespace.default;
  // A file compiled as CommonJS arrives with its default export one level down.
  if (isObject(exported) && !('build' in exported) && isObject(exported.default)) exported = exported.default;
  if (exported === undefined) exported = namespace.strategy;
  if (!isObject(exported)) {
    throw new UsageError(`--strategies: ${spec} must export default defineStrategy({ name, build }); it exports ${describeExports(namespace)}`);
  }
  if (typeof exported.name !== 'string' || exported.name.length === 0) {
    throw new UsageError(`--strategies: ${spec}: the exported strategy has no name`);
  }
  if (typeof exported.build !== 'function') {
    throw new UsageError(`--strategies: ${spec}: strategy "${exported.name}" has no build(db, turn) function`);
  }
  const strategy = exported as unknown as Strategy<unknown>;
  // A wrapper, not a copy: `build` keeps its own `this`, and reports can name the file.
  return {
    name: strategy.name,
    description: strategy.description,
    requires: strategy.requires,
    source: spec,
    build: (db, turn) => strategy.build(db, turn),
  };
}

/** A path as shown in messages: the user's own spelling for the strategy file, else relative to the working directory. */
function shownPath(at: string, file: string, spec: string): string {
  if (path.resolve(at) === file) return spec;
  const relative = path.relative(process.cwd(), at);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : at;
}

/**
 * `file:line:column: syntax error: message` for a load failure that is a syntax error, else
 * null. tsx reports "Transform failed with 1 error" with the place on the next line; Node's
 * SyntaxError for JavaScript has no place at all, so the file is parsed again (by the esbuild
 * that tsx ships) to find it. Columns are 1-based characters, as editors count them.
 */
async function syntaxErrorOf(error: unknown, file: string, spec: string): Promise<string | null> {
  const message = error instanceof Error ? error.message : String(error);
  const transform = /^(.+):(\d+):(\d+): ERROR: (.+)$/m.exec(message);
  if (/^Transform failed/.test(message) && transform !== null) {
    const [, at, line, column, text] = transform;
    const lineText = await readFile(at!, 'utf8').then((t) => t.split('\n')[Number(line) - 1] ?? '', () => '');
    return `${shownPath(at!, file, spec)}:${line}:${characterColumn(lineText, Number(column))}: syntax error: ${text}`;
  }
  // Whatever the loader said (Node's SyntaxError has no place; other loaders word it their own
  // way), a file that does not parse is a syntax error at the place the parser names.
  try {
    const esbuild = createRequire(createRequire(import.meta.url).resolve('tsx/esm/api'))('esbuild') as {
      transform(code: string, options: object): Promise<unknown>;
    };
    await esbuild.transform(await readFile(file, 'utf8'), { loader: /\.(c|m)?ts$/.test(file) ? 'ts' : 'js', sourcefile: file });
  } catch (parse) {
    const first = (parse as { errors?: { text: string; location: { line: number; column: number; lineText: string } | null }[] }).errors?.[0];
    if (first?.location) {
      return `${spec}:${first.location.line}:${characterColumn(first.location.lineText, first.location.column)}: syntax error: ${first.text}`;
    }
  }
  return null;
}

/** esbuild counts columns in UTF-8 bytes from 0; editors count characters from 1. */
function characterColumn(lineText: string, byteColumn: number): number {
  return Buffer.from(lineText, 'utf8').subarray(0, byteColumn).toString('utf8').length + 1;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function describeExports(namespace: Record<string, unknown>): string {
  const names = Object.keys(namespace).filter((k) => k !== '__esModule');
  return names.length === 0 ? 'nothing' : `only ${names.join(', ')}`;
}

/**
 * Resolves a `--strategies` list of built-in names and file paths; every problem is reported
 * at once (exit 2).
 *
 * @example
 * await loadStrategies(['naive', './mine.ts']);
 */
export async function loadStrategies(specs: readonly string[], cwd: string = process.cwd()): Promise<Strategy<any>[]> {
  const problems: string[] = [];
  const out: Strategy<any>[] = [];
  if (specs.length === 0) problems.push('--strategies: name at least one strategy');
  for (const spec of specs) {
    try {
      if (isStrategyPath(spec)) {
        out.push(await loadStrategyFile(spec, cwd));
      } else {
        const strategy = builtInStrategies.find((s) => s.name === spec);
        if (strategy === undefined) {
          problems.push(`--strategies: unknown strategy "${spec}" (built in: ${builtInStrategies.map((s) => s.name).join(', ')}; or give a path to a .ts/.js file)`);
        } else {
          out.push(strategy);
        }
      }
    } catch (error) {
      if (error instanceof UsageError) problems.push(...error.problems);
      else throw error;
    }
  }
  const seen = new Set<string>();
  for (const s of out) {
    if (seen.has(s.name)) problems.push(`--strategies: two strategies are named "${s.name}"; names must be unique`);
    seen.add(s.name);
  }
  if (problems.length > 0) throw new UsageError(problems);
  return out;
}
