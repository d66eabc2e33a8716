/**
 * Section 6 — flat memory: the peak RSS of a whole `ctxbench compare` process (the real bin,
 * spawned) at 1,000, 10,000 and 100,000 generated turns, with every turn's details kept
 * (`--format json --output FILE`, the default `--details all`: details spilled to disk and
 * streamed into the report). The strategy is deliberately cheap (one parameterised statement),
 * so that what grows with the turns is ctxbench's own bookkeeping, not the work.
 *
 * On PostgreSQL when there is one (a database of its own, which the strategy only reads
 * `select $1` from); else on the embedded database, whose WASM heap (hundreds of MB) is in the
 * same process and dwarfs ctxbench's own memory — the figures then say less.
 *
 * And the same for `ctxbench record` around pgbench (PostgreSQL and pgbench needed): its
 * statements are kept on disk as they complete and the report folded one unit at a time, so
 * its peak should not follow the statements either.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { withTempDatabase } from '../lib/postgres.mjs';
import { findOnPath, runCtxbench } from '../lib/processes.mjs';
import { ratio, round } from '../lib/stats.mjs';

/** Peak RSS at the most turns, as a multiple of the peak at the fewest: the goal stays under it. */
const GOAL = 2;

const STRATEGY = `// One parameterised statement per turn: cheap, so 100,000 turns finish in minutes.
export default {
  name: 'cheap',
  async build(db, turn) {
    const { rows } = await db.query('select $1::int as n', [turn.id]);
    return \`turn \${rows[0].n}\`;
  },
};
`;

/** The number the report's head gives `key` after `after` (`"turns": 1000`): read only its first 4 kB, of a file that may be 100 MB. */
async function headFigure(file, after, key) {
  const handle = await open(file);
  const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0).finally(() => handle.close());
  const head = buffer.subarray(0, bytesRead).toString('utf8');
  return Number(new RegExp(`"${key}": (\\d+)`).exec(head.slice(head.indexOf(after)))?.[1]);
}

async function measure({ dir, turns, url, log }) {
  const turnsFile = path.join(dir, `turns-${turns}.ndjson`);
  let text = '';
  for (let i = 0; i < turns; i++) text += `{"id":${i}}\n`;
  await writeFile(turnsFile, text);
  text = '';
  const output = path.join(dir, `report-${turns}.json`);
  log(`  ${turns.toLocaleString('en-US')} turns…`);
  const args = [
    'compare',
    ...(url ? ['--db', url] : ['--scale', 'tiny']),
    '--turns',
    turnsFile,
    '--strategies',
    path.join(dir, 'cheap-strategy.mjs'),
    '--tokenizer',
    'none',
    '--format',
    'json',
    '--output',
    output,
  ];
  const { wallMs, usage } = await runCtxbench(args, { env: { DATABASE_URL: '' } });
  const peakRssBytes = usage.peakRssBytes;
  const outputBytes = (await stat(output)).size;
  const counted = await headFigure(output, '', 'turns');
  if (counted !== turns) throw new Error(`memory: the report of ${turns} turns says ${counted}`);
  await rm(output, { force: true });
  await rm(turnsFile, { force: true });
  return { turns, peakRssMiB: round(peakRssBytes / 1048576, 1), wallSeconds: round(wallMs / 1000, 1), reportMiB: round(outputBytes / 1048576, 1) };
}

const execFileAsync = promisify(execFile);

/**
 * pgbench's TPC-B-like transaction (its built-in script, the same seven statements), pipelined
 * so that a transaction is one round trip: many statements in little time.
 */
const PGBENCH_SCRIPT = `\\set aid random(1, 100000 * :scale)
\\set bid random(1, 1 * :scale)
\\set tid random(1, 10 * :scale)
\\set delta random(-5000, 5000)
\\startpipeline
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
\\endpipeline
`;
const PGBENCH_STATEMENTS = 7;
const PGBENCH_CLIENTS = 2;

/** `ctxbench record -- pgbench …` sending about `statements` statements: its peak RSS, wall time and report size. */
async function measureRecord({ dir, statements, url, pgbench, log }) {
  const output = path.join(dir, `recording-${statements}.json`);
  const script = path.join(dir, 'tpcb-pipelined.sql');
  const perClient = Math.ceil(statements / PGBENCH_STATEMENTS / PGBENCH_CLIENTS);
  log(`  record, ${statements.toLocaleString('en-US')} statements…`);
  const args = ['record', '--upstream', url, '--format', 'json', '--output', output, '--', pgbench, '-n', '-M', 'prepared', '-c', String(PGBENCH_CLIENTS), '-t', String(perClient), '-f', script];
  const { wallMs, usage } = await runCtxbench(args, { env: { DATABASE_URL: '' } });
  const outputBytes = (await stat(output)).size;
  const recorded = await headFigure(output, '"totals"', 'queries');
  // pgbench's own few statements at start come on top.
  if (!(recorded >= perClient * PGBENCH_CLIENTS * PGBENCH_STATEMENTS)) throw new Error(`memory: the recording of pgbench holds ${recorded} statements`);
  await rm(output, { force: true });
  return { statements: recorded, peakRssMiB: round(usage.peakRssBytes / 1048576, 1), wallSeconds: round(wallMs / 1000, 1), reportMiB: round(outputBytes / 1048576, 1) };
}

/** The record rows: on a scratch database pgbench initialised, or why they were not measured. */
async function recordSection({ recordSizes, postgres, dir, log }) {
  if (!postgres.url) return { skipped: `it needs a real PostgreSQL (${postgres.reason})` };
  const pgbench = findOnPath('pgbench');
  if (pgbench === null) return { skipped: 'pgbench is not on PATH (postgresql-client / postgresql-contrib)' };
  await writeFile(path.join(dir, 'tpcb-pipelined.sql'), PGBENCH_SCRIPT);
  const runs = await withTempDatabase(postgres.url, async (url) => {
    await execFileAsync(pgbench, ['-i', '-q', '-s', '1', url]);
    const out = [];
    for (const statements of recordSizes) out.push(await measureRecord({ dir, statements, url, pgbench, log }));
    return out;
  });
  const growth = ratio(runs.at(-1).peakRssMiB, runs[0].peakRssMiB, 2);
  return { tool: `its TPC-B-like transaction, pipelined, ${PGBENCH_CLIENTS} clients`, runs, growth, goalMet: growth !== null && growth < GOAL };
}

export async function memorySection({ sizes, recordSizes, postgres, log }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-memory-'));
  try {
    await writeFile(path.join(dir, 'cheap-strategy.mjs'), STRATEGY);
    const runAll = async (url) => {
      const runs = [];
      for (const turns of sizes) runs.push(await measure({ dir, turns, url, log }));
      return runs;
    };
    const runs = postgres.url ? await withTempDatabase(postgres.url, runAll) : await runAll(null);
    const first = runs[0];
    const last = runs.at(-1);
    const growth = ratio(last.peakRssMiB, first.peakRssMiB, 2);
    const record = await recordSection({ recordSizes, postgres, dir, log });
    return {
      database: postgres.url ? { kind: 'postgres', serverVersion: postgres.serverVersion } : { kind: 'pglite', scale: 'tiny' },
      details: 'all',
      goal: GOAL,
      runs,
      growth,
      goalMet: growth !== null && growth < GOAL,
      record,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
