/**
 * What the benchmarks ran on: the figures mean nothing without it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The version of an installed package (walking up from its entry point: exports maps hide package.json). */
export function packageVersion(name) {
  try {
    let dir = path.dirname(require.resolve(name));
    for (;;) {
      try {
        const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
        if (pkg.name === name) return String(pkg.version);
      } catch {
        // no package.json here: keep walking up
      }
      const parent = path.dirname(dir);
      if (parent === dir) return null;
      dir = parent;
    }
  } catch {
    return null;
  }
}

/** CPU, memory, runtime and library versions of this machine. */
export function machineFacts() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    pglite: packageVersion('@electric-sql/pglite'),
    pgliteSocket: packageVersion('@electric-sql/pglite-socket'),
    pg: packageVersion('pg'),
    knex: packageVersion('knex'),
  };
}

/** The PostgreSQL version PGlite runs (asked of a throwaway in-memory instance). */
export async function pgliteServerVersion() {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create();
  try {
    const { rows } = await db.query('show server_version');
    return String(rows[0].server_version);
  } finally {
    await db.close();
  }
}
