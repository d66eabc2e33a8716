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
 */
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withTempDatabase } from '../lib/postgres.mjs';
import { runCtxbench } from '../lib/processes.mjs';
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
  // The report's head holds the strategy's turn count: read only that much of a file that may be 100 MB.
  const file = await open(output);
  const { buffer, bytesRead } = await file.read(Buffer.alloc(4096), 0, 4096, 0).finally(() => file.close());
  const head = buffer.subarray(0, bytesRead).toString('utf8');
  const counted = Number(/"turns": (\d+)/.exec(head)?.[1]);
  if (counted !== turns) throw new Error(`memory: the report of ${turns} turns says ${counted}`);
  await rm(output, { force: true });
  await rm(turnsFile, { force: true });
  return { turns, peakRssMiB: round(peakRssBytes / 1048576, 1), wallSeconds: round(wallMs / 1000, 1), reportMiB: round(outputBytes / 1048576, 1) };
}

export async function memorySection({ sizes, postgres, log }) {
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
    return {
      database: postgres.url ? { kind: 'postgres', serverVersion: postgres.serverVersion } : { kind: 'pglite', scale: 'tiny' },
      details: 'all',
      goal: GOAL,
      runs,
      growth,
      goalMet: growth !== null && growth < GOAL,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
