/**
 * README promises run from the command line, each with an assertion that fails when the
 * promise is broken: budgets per flag and per run, the baseline tolerance, `--rtt` through the
 * delay proxy (a physical lower bound), `replay` in both formats, `--setup` modules, `sweep
 * --scales`, and `proxy` reporting when stopped.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededBackend, testCacheDir, type TestBackend } from '../support/backends.js';
import { repoRoot, runInProcess as run } from '../support/cli.js';

const common = ['--scale', 'tiny', '--conversation', 'en-first-1'];

interface TurnJson {
  turn: string;
  queries: number;
  roundTrips: number;
  bytes: number;
  payloadBytes: number;
  rows: number;
  latencyMs: number[];
  statements: { seq: number; roundTrip: number; sql: string; params: (string | null)[]; rows: number; wireBytes: number; payloadBytes: number }[];
}

let dir: string;
/** optimized on en-first-1, measured directly: the figures every budget below is set from. */
let direct: { turnDetails: TurnJson[]; totals: Record<string, number> };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-claims-'));
  const r = await run(['compare', ...common, '--strategies', 'optimized', '--format', 'json']);
  expect(r.code).toBe(0);
  direct = JSON.parse(r.stdout).strategies[0];
  // Four turns of seven statements, one round trip each: the figures below rely on them.
  expect(direct.turnDetails.map((t) => [t.queries, t.roundTrips])).toEqual([
    [7, 7],
    [7, 7],
    [7, 7],
    [7, 7],
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('budget flags from the command line', () => {
  const worst = (metric: keyof TurnJson) => Math.max(...direct.turnDetails.map((t) => t[metric] as number));

  const flags = [
    ['--max-round-trips', 'roundTrips'],
    ['--max-payload-bytes', 'payloadBytes'],
    ['--max-rows', 'rows'],
    ['--max-queries', 'queries'],
    ['--max-bytes', 'bytes'],
  ] as const;

  it('every --max-* flag per turn: exit 0 at the worst turn, exit 1 one below it naming each turn over', async () => {
    const at = await run(['check', ...common, '--strategies', 'optimized', ...flags.flatMap(([flag, metric]) => [flag, String(worst(metric))]), '--format', 'json']);
    expect(at.code).toBe(0);
    expect(JSON.parse(at.stdout).budget).toMatchObject({ passed: true, violations: [] });
    const over = await run(['check', ...common, '--strategies', 'optimized', ...flags.flatMap(([flag, metric]) => [flag, String(worst(metric) - 1)]), '--format', 'json']);
    expect(over.code).toBe(1);
    const violations = JSON.parse(over.stdout).budget.violations as { metric: string; actual: number; budget: number; turn: string }[];
    for (const [flag, metric] of flags) {
      const limit = worst(metric) - 1;
      const expected = direct.turnDetails.filter((t) => (t[metric] as number) > limit).map((t) => [t.turn, t[metric], limit]);
      expect(expected.length, flag).toBeGreaterThan(0);
      expect(violations.filter((v) => v.metric === metric).map((v) => [v.turn, v.actual, v.budget]), flag).toEqual(expected);
    }
    expect(new Set(violations.map((v) => v.metric))).toEqual(new Set(flags.map(([, metric]) => metric)));
  });

  it('--per total: the limits apply to the run’s sums', async () => {
    const { rows, roundTrips } = direct.totals;
    expect(roundTrips).toBe(28);
    const at = await run(['check', ...common, '--strategies', 'optimized', '--per', 'total', '--max-rows', String(rows), '--max-round-trips', '28', '--format', 'json']);
    expect(at.code).toBe(0);
    // Per turn, 8 round trips would pass; per run they are far over.
    const over = await run(['check', ...common, '--strategies', 'optimized', '--per', 'total', '--max-rows', String(rows - 1), '--max-round-trips', '8', '--format', 'json']);
    expect(over.code).toBe(1);
    const violations = JSON.parse(over.stdout).budget.violations as { metric: string; actual: number; budget: number }[];
    expect(violations.map((v) => [v.metric, v.actual, v.budget])).toEqual([
      ['roundTrips', 28, 8],
      ['rows', rows, rows - 1],
    ]);
  });
});

describe('check --baseline --tolerance', () => {
  it('a figure grown within the tolerance passes; beyond it, or with none, it fails', async () => {
    const file = path.join(dir, 'baseline.json');
    expect((await run(['snapshot', ...common, '--strategies', 'optimized', '--output', file])).code).toBe(0);
    const baseline = JSON.parse(await readFile(file, 'utf8'));
    const turns = baseline.strategies.optimized as Record<string, { bytes: number; rows: number }>;
    const [first] = Object.keys(turns);
    const bytes = turns[first!]!.bytes;
    // Pretend the baseline was 100 bytes and 2 rows lighter in the first turn: the run grew by that much.
    turns[first!]!.bytes = bytes - 100;
    turns[first!]!.rows -= 2;
    await writeFile(file, JSON.stringify(baseline));
    const check = (...extra: string[]) => run(['check', ...common, '--strategies', 'optimized', '--baseline', file, ...extra]);

    const grewBytes = new RegExp(`✗ optimized · turn ${first}: bytes .* → `);
    const grewRows = new RegExp(`✗ optimized · turn ${first}: rows ${turns[first!]!.rows} → ${turns[first!]!.rows + 2}`);
    const none = await check();
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(grewBytes);
    expect(none.stdout).toMatch(grewRows);

    const within = await check('--tolerance', 'bytes=100,rows=2');
    expect(within.code).toBe(0);
    expect(within.stdout).toContain('✓ no figure grew');

    const justBeyond = await check('--tolerance', 'bytes=99,rows=2');
    expect(justBeyond.code).toBe(1);
    expect(justBeyond.stdout).toMatch(grewBytes);
    expect(justBeyond.stdout).not.toMatch(grewRows);
    expect((await check('--tolerance', 'bytes=100,rows=1')).stdout).toMatch(grewRows);

    // 100 bytes is over 0.5% and under 2% of this turn's bytes.
    expect(100 / (bytes - 100)).toBeGreaterThan(0.005);
    expect(100 / (bytes - 100)).toBeLessThan(0.02);
    expect((await check('--tolerance', 'bytes=2%,rows=2')).code).toBe(0);
    expect((await check('--tolerance', 'bytes=0.5%,rows=2')).code).toBe(1);

    const bad = await check('--tolerance', 'latency=5%');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--tolerance: expected metric=number or metric=number%');
  });
});

describe('compare --rtt', () => {
  it('runs every strategy through the delay proxy: each turn takes at least its round trips × RTT', async () => {
    // Ten trivial sequential statements per turn: their floor through the proxy (10 × RTT) is
    // far above what they take directly, even on a loaded machine, so a bypass cannot pass.
    const file = path.join(dir, 'ten-round-trips.mjs');
    await writeFile(
      file,
      `export default { name: 'ten', async build(db, turn) { for (let i = 0; i < 10; i++) await db.query('select $1::int as n', [turn.n]); return String(turn.n); } };\n`,
    );
    const rtt = 100;
    const r = await run(['compare', '--scale', 'tiny', '--turns', 'test/cli/strategies/turns.json', '--strategies', file, '--rtt', `0,${rtt}ms`, '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.strategies[0].turnDetails.map((t: TurnJson) => t.roundTrips)).toEqual([10, 10, 10]);
    expect(report.latencyByRtt.map((x: { rttMs: number; strategies: { name: string }[] }) => [x.rttMs, x.strategies.map((s) => s.name)])).toEqual([
      [0, ['ten']],
      [rtt, ['ten']],
    ]);
    // Every turn takes ≥ 10 × RTT, so every order statistic of the turns does too.
    const { p50, p95, max } = report.latencyByRtt[1].strategies[0].latencyMs;
    for (const value of [p50, p95, max]) expect(value).toBeGreaterThanOrEqual(10 * rtt);
  });

  it('rejects a bad RTT with exit 2 naming the flag', async () => {
    const r = await run(['compare', ...common, '--rtt', 'fast']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--rtt');
  });
});

describe('replay', () => {
  it('prints every statement of one conversation, as a table and as NDJSON with the same figures', async () => {
    const table = await run(['replay', ...common, '--strategy', 'optimized']);
    expect(table.code).toBe(0);
    const ndjson = await run(['replay', ...common, '--strategy', 'optimized', '--format', 'ndjson']);
    expect(ndjson.code).toBe(0);
    const lines = ndjson.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    const expected = direct.turnDetails.flatMap((t) => t.statements.map((s) => [t.turn, s.seq, s.roundTrip, s.sql, s.params, s.rows, s.wireBytes, s.payloadBytes]));
    expect(expected).toHaveLength(28);
    expect(lines.map((l) => [l.turn, l.seq, l.roundTrip, l.sql, l.params, l.rows, l.wireBytes, l.payloadBytes])).toEqual(expected);
    for (const l of lines) expect(l.sentBytes).toBeGreaterThanOrEqual(Buffer.byteLength(l.sql) + 5);
    // The table: one block per turn, its totals exact.
    for (const t of direct.turnDetails) {
      expect(table.stdout).toContain(`conversation en-first-1 · message ${t.turn.split('/')[1]}`);
      expect(table.stdout).toContain(`total: 7 statements, 7 round trips, ${t.rows} rows, ${t.bytes.toLocaleString('en-US')} wire bytes, ${t.payloadBytes.toLocaleString('en-US')} payload bytes`);
    }
  });

  it('an unknown conversation is exit 2 naming it', async () => {
    const r = await run(['replay', '--scale', 'tiny', '--conversation', 'no-such-conversation']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no-such-conversation');
  });
});

describe('--setup with a module', () => {
  const strategy = `export default {
  name: 'notes',
  async build(db, turn) {
    const { rows } = await db.query('select body from notes where id = $1', [turn.id]);
    return 'NOTE ' + rows[0].body + '\\n';
  },
};
`;
  const setupBody = `  await knex.schema.createTable('notes', (t) => { t.integer('id').primary(); t.text('body'); });
  await knex('notes').insert([{ id: 1, body: 'héllo' }, { id: 2, body: 'wörld!' }]);`;

  it.each([
    ['setup.ts', `import type { Knex } from 'knex';\nexport default async function setup(knex: Knex): Promise<void> {\n${setupBody}\n}\n`],
    ['setup.js', `export default async function setup(knex) {\n${setupBody}\n}\n`],
  ])('%s receives knex and builds the database the strategies read', async (name, text) => {
    const sub = await mkdtemp(path.join(dir, 'setup-'));
    await writeFile(path.join(sub, name), text);
    await writeFile(path.join(sub, 'package.json'), '{"type":"module"}');
    await writeFile(path.join(sub, 'notes.mjs'), strategy);
    await writeFile(path.join(sub, 'turns.json'), JSON.stringify([{ id: 1 }, { id: 2 }]));
    const r = await run(['compare', '--setup', path.join(sub, name), '--turns', path.join(sub, 'turns.json'), '--strategies', path.join(sub, 'notes.mjs'), '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout).strategies[0];
    // 'héllo' is 6 UTF-8 bytes, 'wörld!' 7.
    expect(s.turnDetails.map((t: TurnJson & { promptBytes: number }) => [t.queries, t.rows, t.payloadBytes, t.promptBytes])).toEqual([
      [1, 1, 6, 12],
      [1, 1, 7, 13],
    ]);
  });

  it('a module without a default function is exit 2 naming the file', async () => {
    const file = path.join(dir, 'no-default.mjs');
    await writeFile(file, 'export const x = 1;\n');
    const r = await run(['compare', '--setup', file, '--turns', 'test/cli/strategies/turns.json', '--strategies', 'test/cli/strategies/own-turns.mjs']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--setup: ${file} must export default async function (knex)`);
  });
});

describe('sweep --scales', () => {
  it('replays the same turns at each scale and names the figures that grow', async () => {
    const r = await run(['sweep', '--scales', 'tiny,default', '--conversation', 'en-first-1', '--strategies', 'naive,optimized', '--format', 'json']);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('ctxbench:') && !l.includes('seed'))).toEqual([]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.scales).toEqual(['tiny', 'default']);
    const row = (strategy: string, section: string | null, metric: string) =>
      result.rows.find((x: { strategy: string; section: string | null; metric: string }) => x.strategy === strategy && x.section === section && x.metric === metric);
    expect(row('naive', 'faqs', 'bytes').grows).toBe(true);
    expect(row('optimized', 'faqs', 'rows').values).toEqual([8, 8]);
    expect(row('optimized', null, 'queries').values).toEqual([7, 7]);
    expect(row('naive', null, 'queries').values).toEqual([24, 24]);
    expect(row('naive', null, 'rows')).toMatchObject({ values: [49, 236], grows: true });
    expect(result.rows.filter((x: { strategy: string; grows: boolean }) => x.strategy === 'optimized' && x.grows)).toEqual([]);
  });
});

describe('ctxbench proxy', () => {
  let backend: TestBackend;
  beforeAll(async () => {
    backend = await seededBackend('pglite');
  });
  afterAll(async () => {
    await backend?.close();
  });

  it('records until SIGINT, then reports every statement that went through it', async () => {
    const child = spawn(process.execPath, ['bin/ctxbench.js', 'proxy', '--upstream', backend.url, '--listen', '127.0.0.1:0', '--format', 'json', '--show-content'], {
      cwd: repoRoot,
      env: { ...process.env, CTXBENCH_CACHE_DIR: testCacheDir, NO_COLOR: '1', DATABASE_URL: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on('data', (c) => {
        stderr += c;
        const m = /proxying 127\.0\.0\.1:(\d+)/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`proxy exited: ${stderr}`)));
    });
    const url = new URL(backend.url);
    url.port = String(port);
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    await client.query('select id from users where id = $1', [1]);
    await client.query('select 2 as two');
    await client.end();
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const report = JSON.parse(stdout);
    const statements = JSON.stringify(report);
    expect(statements).toContain('select id from users where id = $1');
    expect(statements).toContain('select 2 as two');
  });
});
