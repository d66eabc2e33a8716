/**
 * Section 4 — seeding throughput: the reference dataset written into the embedded database
 * (in-process COPY from a blob; then dumped and cached) and into a real PostgreSQL (COPY FROM
 * STDIN into a database created for it and dropped afterwards). Rows/s counts the rows
 * generated and loaded over the seeder's own elapsed time (migrations, load, indexes, ANALYZE).
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { seed } from '../../dist/index.js';
import { withTempDatabase } from '../lib/postgres.mjs';
import { round } from '../lib/stats.mjs';

function progressLogger(log, label) {
  let lastTable = null;
  return ({ table, done, total }) => {
    if (table !== lastTable && done === 0) {
      lastTable = table;
      log(`    ${label}: ${table} (${total.toLocaleString('en-US')} rows)…`);
    }
  };
}

function figures(kind, serverVersion, scale, rows, elapsedMs, wallMs) {
  return {
    kind,
    serverVersion,
    scale,
    rows,
    seconds: round(elapsedMs / 1000, 2),
    rowsPerSecond: Math.round(rows / (elapsedMs / 1000)),
    // Everything the call took: for the embedded database also dumping, writing and reloading the cache.
    wallSeconds: round(wallMs / 1000, 2),
  };
}

async function seedEmbeddedOnce(scale, log) {
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-seed-'));
  try {
    let seeded = null;
    const started = performance.now();
    await seed({
      scale,
      cacheDir,
      onProgress: progressLogger(log, 'embedded'),
      onEvent: (event) => {
        if (event.kind === 'seeded') seeded = event;
      },
    });
    const wallMs = performance.now() - started;
    if (seeded === null) throw new Error('seeding: the embedded database was not seeded (was the cache not empty?)');
    // The cache file it wrote: what the dataset costs on disk (large ones are gzip-compressed).
    let cacheBytes = 0;
    for (const name of await readdir(cacheDir)) cacheBytes += (await stat(path.join(cacheDir, name))).size;
    return { rows: seeded.rows, elapsedMs: seeded.ms, wallMs, cacheBytes };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

async function seedPostgresOnce(adminUrl, scale, log) {
  return withTempDatabase(adminUrl, async (url) => {
    const started = performance.now();
    const result = await seed({ url, scale, force: true, onProgress: progressLogger(log, 'postgres') });
    const wallMs = performance.now() - started;
    const rows = Object.values(result.rows ?? {}).reduce((a, b) => a + b, 0);
    return { rows, elapsedMs: result.elapsedMs, wallMs, tables: result.rows };
  });
}

export async function seedingSection({ scale, postgres, pgliteVersion, log }) {
  const targets = [];
  log(`  embedded PGlite, ${scale}…`);
  const embedded = await seedEmbeddedOnce(scale, log);
  targets.push({ ...figures('pglite', pgliteVersion, scale, embedded.rows, embedded.elapsedMs, embedded.wallMs), cacheMiB: round(embedded.cacheBytes / 1048576, 1) });
  let tables = null;
  if (postgres.url) {
    log(`  PostgreSQL ${postgres.serverVersion}, ${scale}…`);
    const server = await seedPostgresOnce(postgres.url, scale, log);
    tables = server.tables;
    targets.push(figures('postgres', postgres.serverVersion, scale, server.rows, server.elapsedMs, server.wallMs));
  }
  return { scale, tables, targets, postgresSkipped: postgres.url ? null : postgres.reason };
}
