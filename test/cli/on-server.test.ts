/**
 * The command-line suites that run on the embedded database, run again on a real PostgreSQL
 * (CTXBENCH_TEST_DATABASE_URL) seeded with the same tiny dataset: the gate (budgets, baseline,
 * tolerance), the real bin, before/after, user strategies and --turns, and the lateral
 * example. Figures must equal the embedded run's: bytes are a property of the data.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seededBackend, type TestBackend } from '../support/backends.js';
import { runInProcess as run, spawnCtxbench } from '../support/cli.js';
import { describeIf, NEEDS_SERVER, testServerUrl } from '../support/skip.js';

interface TurnJson {
  turn: string;
  queries: number;
  roundTrips: number;
  rows: number;
  payloadBytes: number;
  promptSha256: string;
  contextIdentical: boolean;
  statements: { section: string | null }[];
}
interface StrategyJson {
  name: string;
  perTurn: { queries: number };
  contextIdentical: boolean;
  turnDetails: TurnJson[];
}

const gateable = (strategies: StrategyJson[]) =>
  strategies.map((s) => ({
    name: s.name,
    turns: s.turnDetails.map(({ turn, queries, roundTrips, rows, payloadBytes, promptSha256 }) => ({ turn, queries, roundTrips, rows, payloadBytes, promptSha256 })),
  }));

describeIf(testServerUrl, NEEDS_SERVER)('the command line on a real PostgreSQL', () => {
  let backend: TestBackend;
  let dir: string;
  const conversation = ['--conversation', 'en-first-1'];
  const db = () => ['--db', backend.url, ...conversation];

  beforeAll(async () => {
    backend = await seededBackend('postgres');
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-on-server-'));
  }, 180_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await backend?.close();
  });

  it('the bin: compare --db measures exactly what the embedded run measures; a differing prompt exits 1', async () => {
    const server = await spawnCtxbench(['compare', ...db(), '--strategies', 'naive,optimized,batched', '--format', 'json']);
    expect(server.stderr).toBe('');
    expect(server.code).toBe(0);
    const report = JSON.parse(server.stdout);
    expect(report.database.kind).toBe('postgres');
    const embedded = JSON.parse((await run(['compare', '--scale', 'tiny', ...conversation, '--strategies', 'naive,optimized,batched', '--format', 'json'])).stdout);
    expect(gateable(report.strategies)).toEqual(gateable(embedded.strategies));

    const differs = await spawnCtxbench(['compare', ...db(), '--strategies', 'naive,test/cli/strategies/different-prompt.ts']);
    expect(differs.code).toBe(1);
    expect(differs.stdout).toContain('+++ different');
    expect(differs.stderr).toContain("context differs from naive's for: different");
  }, 240_000);

  it('the gate: budget flags, snapshot → check, a grown figure fails, --tolerance lets it pass', async () => {
    expect((await run(['check', ...db(), '--strategies', 'optimized', '--max-queries', '7', '--max-round-trips', '7'])).code).toBe(0);
    const over = await run(['check', ...db(), '--strategies', 'optimized', '--max-queries', '6', '--format', 'json']);
    expect(over.code).toBe(1);
    expect(JSON.parse(over.stdout).budget.violations.map((v: { metric: string; actual: number }) => [v.metric, v.actual])).toEqual([
      ['queries', 7],
      ['queries', 7],
      ['queries', 7],
      ['queries', 7],
    ]);

    const file = path.join(dir, 'baseline.json');
    expect((await run(['snapshot', ...db(), '--strategies', 'optimized', '--output', file])).code).toBe(0);
    expect(Object.values(JSON.parse(await readFile(file, 'utf8')).strategies.optimized).map((t) => (t as { queries: number }).queries)).toEqual([7, 7, 7, 7]);
    expect((await run(['check', ...db(), '--strategies', 'optimized', '--baseline', file])).code).toBe(0);
    const worse = ['check', ...db(), '--strategies', 'test/cli/strategies/optimized-plus-one.ts', '--baseline', file];
    const grew = await run(worse);
    expect(grew.code).toBe(1);
    expect(grew.stdout).toMatch(/✗ optimized · turn en-first-1\/\w+: queries 7 → 8/);
    expect((await run([...worse, '--tolerance', 'queries=1,roundTrips=1,bytes=10%,payloadBytes=10%,rows=1'])).code).toBe(0);
  });

  it('before/after: two reports measured on the server, side by side', async () => {
    const a = await run(['compare', ...db(), '--strategies', 'naive', '--format', 'json']);
    const b = await run(['compare', ...db(), '--strategies', 'test/cli/strategies/optimized-plus-one.ts', '--format', 'json']);
    expect([a.code, b.code]).toEqual([0, 0]);
    await writeFile(path.join(dir, 'a.json'), a.stdout);
    await writeFile(path.join(dir, 'b.json'), b.stdout);
    const r = await run(['compare', '--before', path.join(dir, 'a.json'), '--after', path.join(dir, 'b.json'), '--format', 'json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.strategies.map((s: StrategyJson) => s.perTurn.queries)).toEqual([24, 8]);
    expect(report.contextIdentical).toBe(true);
  });

  it('user strategies: --turns objects and a strategy whose SQL fails', async () => {
    const dirS = 'test/cli/strategies';
    const r = await run(['compare', '--db', backend.url, '--turns', `${dirS}/turns.json`, '--strategies', `${dirS}/own-turns.mjs,${dirS}/own-turns-other.mjs`, '--format', 'json']);
    expect(r.code).toBe(1);
    const [own, other] = JSON.parse(r.stdout).strategies as StrategyJson[];
    expect(own!.turnDetails.map((t) => [t.turn, t.queries, t.rows, t.payloadBytes])).toEqual([
      ['t1', 1, 1, 1],
      ['t2', 1, 1, 1],
      ['t3', 1, 1, 1],
    ]);
    expect(other!.turnDetails.map((t) => t.contextIdentical)).toEqual([true, true, false]);
    const fails = await run(['compare', ...db(), '--strategies', `naive,${dirS}/throws.ts`]);
    expect(fails.code).toBe(1);
    expect(fails.stderr).toContain('column "no_such_column" does not exist');
  });

  it("the lateral example builds naive's prompt in 4 labelled statements per turn", async () => {
    const r = await run(['compare', ...db(), '--strategies', 'naive,./examples/reference-strategy/lateral.ts', '--format', 'json']);
    expect(r.code).toBe(0);
    const lateral = (JSON.parse(r.stdout).strategies as StrategyJson[])[1]!;
    expect(lateral.contextIdentical).toBe(true);
    expect(lateral.turnDetails.map((t) => [t.queries, t.roundTrips, t.statements.map((s) => s.section).join(',')])).toEqual(
      Array.from({ length: 4 }, () => [4, 4, 'conversation,products,websites,faqs']),
    );
  });
});
