#!/usr/bin/env node
/**
 * ctxbench's benchmarks (`npm run bench`, which builds first; never part of `npm test`).
 *
 *   node bench/bench.mjs [--smoke] [--json FILE] [--markdown FILE] [--repeat N] [--no-postgres] [--only LIST [--merge]] [--from FILE]
 *
 * Sections: 1. latency per turn of naive / optimized / batched at RTT 0, 1, 5 ms;
 * 2. instrumentation overhead (tapped vs raw pg.Client, and on PostgreSQL through `ctxbench proxy`,
 * a bare Node forwarder and socat, each a process of its own); 3. embedded start, cold vs warm;
 * 4. seeding throughput of `large` (full mode only; `tiny` in smoke mode); 5. wall time of
 * `compare --concurrency 1, 2, 4` on PostgreSQL (same exact figures required); 6. peak RSS of a
 * whole `compare` process at 1,000, 10,000 and 100,000 generated turns; 7. whole-process
 * `ctxbench compare` runs: warm, cold and --db, wall time and peak RSS, and a CPU profile's groups.
 * Tables go to stdout, progress to stderr, figures to the JSON file (default
 * bench/results.json) and, in full mode, BENCHMARKS.md.
 *
 * PostgreSQL: CTXBENCH_BENCH_DATABASE_URL or DATABASE_URL (must be reachable), else
 * postgres://postgres@127.0.0.1:5432/test when it answers; every use is a database created and
 * dropped by the benchmark. --smoke is a quick check that everything runs (< 60 s): tiny
 * scale, 1 repeat, RTT 0 only, no `large` seeding; its figures are not meant to be quoted.
 * --only LIST --merge re-measures some sections of an earlier run: their figures replace that
 * run's in the JSON file, the others are kept, and the run is listed among the file's updates.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findPostgres } from './lib/postgres.mjs';
import { machineFacts, pgliteServerVersion } from './lib/machine.mjs';
import { mergeProblems, mergeResults } from './lib/merge.mjs';
import { renderMarkdown, renderTables } from './lib/render.mjs';
import { latencySection } from './sections/latency.mjs';
import { overheadSection } from './sections/overhead.mjs';
import { concurrencySection } from './sections/concurrency.mjs';
import { memorySection } from './sections/memory.mjs';
import { seedingSection } from './sections/seeding.mjs';
import { startupSection } from './sections/startup.mjs';
import { processSection } from './sections/process.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_VERSION = 1;
const SECTIONS = ['latency', 'overhead', 'startup', 'seeding', 'concurrency', 'memory', 'process'];

const USAGE = `usage: node bench/bench.mjs [--smoke] [--json FILE] [--markdown FILE] [--repeat N] [--no-postgres] [--only LIST [--merge]] [--from FILE]

  --smoke          quick check (< 60 s): tiny scale, 1 repeat, RTT 0 only, no large seeding
  --json FILE      where to write the figures (default bench/results.json)
  --markdown FILE  where to write the report (default BENCHMARKS.md; with --smoke or --only, none unless given,
                   and with --merge or --from, BENCHMARKS.md when the file holds a full run)
  --repeat N       measured builds per turn in the latency section (default 3; smoke 1)
  --no-postgres    measure the embedded database only
  --only LIST      run only these sections (comma-separated: ${SECTIONS.join(', ')})
  --merge          with --only: put the new figures into the existing --json file, keeping its other sections
  --from FILE      measure nothing: print and write the Markdown from an earlier results file`;

/** The plan of one run: what each section measures, by mode. */
function planFor(smoke, repeatOverride) {
  return smoke
    ? {
        mode: 'smoke',
        latency: { scale: 'tiny', repeat: repeatOverride ?? 1, rtts: [0] },
        overhead: { statements: 300, blockSize: 50, warmup: 50, hopWarmup: 300, replay: { blocks: 4, perBlock: 250 } },
        startup: { scale: 'tiny', warmSamples: 1 },
        seeding: { scale: 'tiny' },
        concurrency: { levels: [1, 2], rounds: 1, repeat: 1, rttMs: null },
        memory: { sizes: [100, 500], recordSizes: [1000, 4000] },
        process: { scale: 'tiny', warmSamples: 1, coldSamples: 1 },
      }
    : {
        mode: 'full',
        latency: { scale: 'default', repeat: repeatOverride ?? 3, rtts: [0, 1, 2, 5] },
        overhead: { statements: 2000, blockSize: 100, warmup: 200, hopWarmup: 5000, replay: { blocks: 20, perBlock: 1000 } },
        startup: { scale: 'default', warmSamples: 3 },
        seeding: { scale: 'large' },
        concurrency: { levels: [1, 2, 4], rounds: 3, repeat: 3, rttMs: 2 },
        memory: { sizes: [1000, 10_000, 100_000], recordSizes: [10_000, 40_000, 160_000] },
        process: { scale: 'default', warmSamples: 5, coldSamples: 3 },
      };
}

function parseCommandLine(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: 'boolean', default: false },
      json: { type: 'string' },
      markdown: { type: 'string' },
      repeat: { type: 'string' },
      'no-postgres': { type: 'boolean', default: false },
      only: { type: 'string' },
      from: { type: 'string' },
      merge: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  let repeat;
  if (values.repeat !== undefined) {
    repeat = Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1)
      throw new Error(`--repeat: expected a whole number ≥ 1, got ${JSON.stringify(values.repeat)}`);
  }
  const only = values.only === undefined ? SECTIONS : values.only.split(',').map((s) => s.trim());
  const unknown = only.filter((s) => !SECTIONS.includes(s));
  if (unknown.length > 0) throw new Error(`--only: unknown section ${unknown.join(', ')} (expected ${SECTIONS.join(', ')})`);
  // Merging a run of every section would keep nothing: that is a plain run.
  if (values.merge && values.only === undefined) throw new Error('--merge: only with --only (the sections to re-measure)');
  if (values.merge && values.from !== undefined) throw new Error('--merge: not with --from, which measures nothing');
  return {
    only,
    from: values.from === undefined ? null : path.resolve(values.from),
    markdownGiven: values.markdown !== undefined,
    merge: values.merge,
    help: values.help,
    smoke: values.smoke,
    repeat,
    noPostgres: values['no-postgres'],
    json: path.resolve(values.json ?? path.join(ROOT, 'bench', 'results.json')),
    // BENCHMARKS.md holds a full run: a smoke or partial run only writes Markdown where it is told to
    // (a merge decides once it knows what the file holds).
    markdown:
      values.markdown !== undefined
        ? path.resolve(values.markdown)
        : values.smoke || only.length < SECTIONS.length
          ? null
          : path.join(ROOT, 'BENCHMARKS.md'),
  };
}

/** How this run was started, as a user would type it. */
function commandLine(argv) {
  const args = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  if (process.env.npm_lifecycle_event === 'bench') return `npm run bench${args ? ` -- ${args}` : ''}`;
  return `node bench/bench.mjs${args ? ` ${args}` : ''}`;
}

const log = (line) => process.stderr.write(`${line}\n`);

/** Writes `text`, laid out by the project's Prettier when it is installed (a dev dependency). */
async function writeFormatted(file, text) {
  try {
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(file)) ?? {};
    text = await prettier.format(text, { ...config, filepath: file });
  } catch {
    // Without Prettier the output is still valid JSON and Markdown, only laid out differently.
  }
  await writeFile(file, text);
}

async function section(results, only, key, title, run) {
  if (!only.includes(key)) return;
  const started = performance.now();
  log(`${title}…`);
  results[key] = await run();
  results[key].elapsedSeconds = Math.round((performance.now() - started) / 100) / 10;
  log(`  done in ${results[key].elapsedSeconds} s`);
}

async function main() {
  const argv = process.argv.slice(2);
  let options;
  try {
    options = parseCommandLine(argv);
  } catch (error) {
    log(`bench: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (options.from) {
    const results = JSON.parse(await readFile(options.from, 'utf8'));
    process.stdout.write(`${renderTables(results)}\n`);
    const markdown = options.markdownGiven ? options.markdown : results.mode === 'full' ? path.join(ROOT, 'BENCHMARKS.md') : null;
    if (markdown) {
      await writeFormatted(markdown, renderMarkdown(results));
      log(`wrote ${markdown}`);
    }
    return 0;
  }
  let base = null;
  if (options.merge) {
    try {
      base = JSON.parse(await readFile(options.json, 'utf8'));
    } catch (error) {
      log(`bench: --merge: cannot read the results to merge into, ${options.json}: ${error.message}`);
      return 2;
    }
  }
  const plan = planFor(options.smoke, options.repeat);
  const started = performance.now();
  const results = {
    version: RESULTS_VERSION,
    mode: plan.mode,
    command: commandLine(argv),
    startedAt: new Date().toISOString(),
    finishedAt: null,
    durationMs: null,
    jsonFile: options.json.startsWith(`${ROOT}${path.sep}`) ? path.relative(ROOT, options.json) : options.json,
    machine: { ...machineFacts(), loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100) },
    latency: null,
    overhead: null,
    startup: null,
    seeding: null,
    concurrency: null,
    memory: null,
    process: null,
  };

  const postgres = await findPostgres({ disabled: options.noPostgres });
  results.machine.postgresServerVersion = postgres.serverVersion ?? null;
  results.machine.postgresSkipped = postgres.url ? null : postgres.reason;
  log(`ctxbench bench (${plan.mode}) · ${results.machine.cpuModel} × ${results.machine.cores} · Node ${results.machine.node}`);
  log(postgres.url ? `PostgreSQL ${postgres.serverVersion} (${postgres.source})` : `PostgreSQL: skipped (${postgres.reason})`);
  if (base) {
    const problems = mergeProblems(base, results, options.only);
    if (problems.length > 0) {
      log(problems.map((p) => `bench: --merge: ${options.json} holds ${p}`).join('\n'));
      return 2;
    }
  }

  const { latency: l, overhead: o, startup: s, seeding: d, process: p } = plan;
  await section(
    results,
    options.only,
    'latency',
    `1/7 latency per turn (${l.scale}, repeat ${l.repeat}, RTT ${l.rtts.join('/')} ms)`,
    () => latencySection({ ...l, log }),
  );
  results.machine.pgliteServerVersion = results.latency?.database.serverVersion ?? (await pgliteServerVersion());
  await section(results, options.only, 'overhead', `2/7 instrumentation overhead (${o.statements} statements per side)`, () =>
    overheadSection({ ...o, postgres, log }),
  );
  await section(results, options.only, 'startup', `3/7 embedded start (${s.scale}: 1 cold, ${s.warmSamples} warm)`, () =>
    startupSection({ ...s, log }),
  );
  await section(results, options.only, 'seeding', `4/7 seeding throughput (${d.scale})`, () =>
    seedingSection({ ...d, postgres, pgliteVersion: results.machine.pgliteServerVersion, log }),
  );

  const { concurrency: c, memory: mem } = plan;
  await section(results, options.only, 'concurrency', `5/7 parallel sessions (K ${c.levels.join('/')}, PostgreSQL, RTT 0${c.rttMs ? ` and ${c.rttMs} ms` : ''})`, () =>
    concurrencySection({ ...c, postgres, log }),
  );
  await section(results, options.only, 'memory', `6/7 peak RSS of compare (${mem.sizes.map((n) => n.toLocaleString('en-US')).join(' / ')} turns) and record (${mem.recordSizes.map((n) => n.toLocaleString('en-US')).join(' / ')} statements)`, () =>
    memorySection({ ...mem, postgres, log }),
  );
  await section(results, options.only, 'process', `7/7 whole-process compare (${p.scale}: ${p.coldSamples} cold, ${p.warmSamples} warm and --db)`, () =>
    processSection({ ...p, postgres, log }),
  );

  results.finishedAt = new Date().toISOString();
  results.durationMs = Math.round(performance.now() - started);
  results.machine.loadAverageAtEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);

  process.stdout.write(`${renderTables(results)}\n`);
  let written = results;
  let markdown = options.markdown;
  if (base) {
    written = mergeResults(base, results, options.only);
    if (!options.markdownGiven) markdown = written.mode === 'full' ? path.join(ROOT, 'BENCHMARKS.md') : null;
  }
  await mkdir(path.dirname(options.json), { recursive: true });
  await writeFormatted(options.json, `${JSON.stringify(written, null, 2)}\n`);
  log(`wrote ${options.json}${base ? ` (${options.only.join(', ')} merged in)` : ''}`);
  if (markdown) {
    await writeFormatted(markdown, renderMarkdown(written));
    log(`wrote ${markdown}`);
  }
  log(`total ${(results.durationMs / 1000).toFixed(1)} s`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    log(`bench: ${error?.stack ?? error}`);
    process.exitCode = 1;
  },
);
