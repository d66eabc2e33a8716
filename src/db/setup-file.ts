/**
 * `--setup FILE`: a user's own schema and data for the embedded database — a `.sql` file run
 * as one script, or a `.ts`/`.js` module whose default export receives knex.
 */
import { quietKnexOn } from './knex-quiet.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Knex } from 'knex';
import { UsageError } from '../core/errors.js';
import { readTextFile } from '../core/read-text.js';

/** Runs a setup file against `url`. Failures are usage errors naming the file (exit 2). */
export async function runSetupFile(file: string, url: string): Promise<void> {
  const resolved = path.resolve(file);
  if (!existsSync(resolved)) throw new UsageError(`--setup: ${file} does not exist`);
  const knex = quietKnexOn(url);
  try {
    if (/\.sql$/i.test(resolved)) {
      // One simple-protocol query: a script of many statements runs as written.
      const sql = await readTextFile(file, '--setup');
      const client = await knex.client.acquireConnection();
      try {
        await client.query(sql);
      } finally {
        await knex.client.releaseConnection(client);
      }
      return;
    }
    const namespace = /\.(c|m)?ts$/.test(resolved)
      ? await (await import('tsx/esm/api')).tsImport(pathToFileURL(resolved).href, import.meta.url)
      : await import(pathToFileURL(resolved).href);
    let fn: unknown = namespace.default;
    if (typeof fn === 'object' && fn !== null && typeof (fn as { default?: unknown }).default === 'function')
      fn = (fn as { default: unknown }).default;
    if (typeof fn !== 'function') throw new UsageError(`--setup: ${file} must export default async function (knex) { … }`);
    await (fn as (knex: Knex) => Promise<void>)(knex);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new UsageError(`--setup: ${file} failed: ${message}`, { cause: error });
  } finally {
    await knex.destroy();
  }
}
