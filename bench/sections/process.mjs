/**
 * Section 5 — `ctxbench compare` as a user runs it: one whole process each time (module
 * loading, the embedded database or the server, the run, the report), timed from spawn to
 * exit, with the process's peak RSS and CPU time. Warm = the embedded cache is there; cold = an
 * empty cache directory (the run seeds it); --db = the same turns on a seeded PostgreSQL.
 * Warm and --db runs are interleaved. One more warm run is CPU-profiled, and its samples are
 * grouped by where the time went: that is the floor a faster warm run would have to cut.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withTempDatabase } from '../lib/postgres.mjs';
import { runCtxbench } from '../lib/processes.mjs';
import { median, round } from '../lib/stats.mjs';


/** The goals of issue #17, shown beside the figures. */
export const PROCESS_GOALS = { warmMs: 2500, warmRssMiB: 400, coldMs: 6000, dbMs: 1500 };

/** Runs `ctxbench …args` once (a compare writing its JSON report to a file); its wall time, peak RSS, CPU time and memory outside the JS heap. */
async function runOnce(args, env, nodeFlags = []) {
  const dir = args[0] === 'compare' ? await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-proc-')) : null;
  try {
    const output = dir === null ? [] : ['--format', 'json', '--output', path.join(dir, 'report.json')];
    const { wallMs, usage } = await runCtxbench([...args, ...output], { env, nodeFlags });
    const mib = (bytes) => round(bytes / 1048576, 0);
    return {
      wallMs: round(wallMs, 1),
      rssMiB: round(usage.peakRssBytes / 1048576, 1),
      cpuMs: round((usage.userUs + usage.systemUs) / 1000, 1),
      // Sampled peaks (every 100 ms): the JS heap, memory outside it (WASM, buffers) and, of that, ArrayBuffers.
      heapMiB: mib(usage.peakBytes.heapUsed),
      externalMiB: mib(usage.peakBytes.external),
      arrayBuffersMiB: mib(usage.peakBytes.arrayBuffers),
    };
  } finally {
    if (dir !== null) await rm(dir, { recursive: true, force: true });
  }
}

function summarise(samples) {
  if (samples.length === 0) return null;
  return {
    samples: samples.length,
    wallMs: samples.map((s) => s.wallMs),
    medianWallMs: round(median(samples.map((s) => s.wallMs)), 1),
    medianRssMiB: round(median(samples.map((s) => s.rssMiB)), 1),
    medianCpuMs: round(median(samples.map((s) => s.cpuMs)), 1),
    medianHeapMiB: median(samples.map((s) => s.heapMiB)),
    medianExternalMiB: median(samples.map((s) => s.externalMiB)),
    medianArrayBuffersMiB: median(samples.map((s) => s.arrayBuffersMiB)),
  };
}

/** Where the CPU samples of a profile fall, in the groups a reader can act on. */
const GROUPS = [
  ['PGlite WASM (PostgreSQL itself)', (url) => url.startsWith('wasm://')],
  ['PGlite JavaScript (file system, protocol)', (url) => url.includes('@electric-sql/pglite')],
  ['module loading and compiling', (url, fn) => /node:internal\/modules|modules\/(esm|cjs)/.test(url) || fn === 'compileSourceTextModule' || fn === 'wrapSafe'],
  ['tokenizer (gpt-tokenizer)', (url) => url.includes('gpt-tokenizer')],
  ['column-usage analysis', (url) => url.includes('column-usage')],
  ['SQL parser (libpg-query)', (url) => url.includes('libpg-query')],
  ['pg, knex and sockets', (url) => /node_modules\/(pg|pg-protocol|knex|tarn|pg-pool)\//.test(url) || /node:(net|stream|internal\/streams)/.test(url)],
  ['garbage collection', (url, fn) => fn === '(garbage collector)'],
  ['idle (waiting)', (url, fn) => fn === '(idle)'],
  ['ctxbench itself', (url) => url.includes('/dist/')],
  ['Node.js runtime (buffers, crypto, timers, native code)', (url, fn) => url.startsWith('node:') || fn === '(program)' || url === ''],
];

function profileGroups(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map(GROUPS.map(([name]) => [name, 0]));
  totals.set('other', 0);
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const { url, functionName } = byId.get(id).callFrame;
    const group = GROUPS.find(([, match]) => match(url, functionName))?.[0] ?? 'other';
    totals.set(group, totals.get(group) + dt);
  });
  return { totalMs: round(total / 1000, 0), groups: [...totals].map(([name, us]) => ({ name, ms: round(us / 1000, 0) })).filter((g) => g.ms > 0) };
}

export async function processSection({ scale, warmSamples, coldSamples, postgres, log }) {
  const compareArgs = ['compare', '--scale', scale];
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-cache-'));
  const profDir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-prof-'));
  try {
    const cold = [];
    for (let i = 0; i < coldSamples; i++) {
      log(`  cold ${i + 1}/${coldSamples} (empty cache: seeds the dataset)…`);
      const empty = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-cold-'));
      try {
        cold.push(await runOnce(compareArgs, { CTXBENCH_CACHE_DIR: empty }));
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
    }
    // The warm runs' cache, seeded once (not measured).
    await runOnce(['seed', '--scale', scale], { CTXBENCH_CACHE_DIR: cacheDir });
    const measureAll = async (dbUrl) => {
      const warm = [];
      const db = [];
      for (let i = 0; i < warmSamples; i++) {
        log(`  warm ${i + 1}/${warmSamples}${dbUrl ? ' and --db' : ''}…`);
        // Alternating which goes first, so neither always runs on a machine the other just warmed.
        const order = i % 2 === 0 ? ['warm', 'db'] : ['db', 'warm'];
        for (const side of order) {
          if (side === 'warm') warm.push(await runOnce(compareArgs, { CTXBENCH_CACHE_DIR: cacheDir }));
          else if (dbUrl) db.push(await runOnce(['compare', '--db', dbUrl], {}));
        }
      }
      return { warm, db };
    };
    let measured;
    if (postgres.url) {
      measured = await withTempDatabase(postgres.url, async (url) => {
        log('  seeding a PostgreSQL database for --db…');
        await runCtxbench(['seed', '--db', url, '--scale', scale]);
        return measureAll(url);
      });
    } else {
      measured = await measureAll(null);
    }
    log('  one more warm run, CPU-profiled…');
    await runOnce(compareArgs, { CTXBENCH_CACHE_DIR: cacheDir }, ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
    // One file per thread (CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile): thread 0 is
    // ctxbench's own; the other is the embedded database's (PGlite runs on a thread of its own).
    const files = (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'));
    const threadOf = (f) => Number(f.split('.')[4]);
    const mainFile = files.find((f) => threadOf(f) === 0);
    const profile = mainFile ? profileGroups(JSON.parse(await readFile(path.join(profDir, mainFile), 'utf8'))) : null;
    for (const f of files.filter((f) => f !== mainFile)) {
      // The database thread's busy time, beside the main thread's (its idle is the main thread's work).
      const thread = profileGroups(JSON.parse(await readFile(path.join(profDir, f), 'utf8')));
      for (const g of thread.groups) profile?.groups.push({ name: `database thread: ${g.name}`, ms: g.ms });
    }
    return {
      scale,
      goals: PROCESS_GOALS,
      cold: summarise(cold),
      warm: summarise(measured.warm),
      db: summarise(measured.db),
      dbSkipped: postgres.url ? null : postgres.reason,
      profile,
    };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
    await rm(profDir, { recursive: true, force: true });
  }
}
