/**
 * `--concurrency K` (issue #16 item 4): K connections measure turns at once, and every exact
 * figure, finding and prompt hash is the one-connection run's. And `--details`: what a JSON
 * report carries of each turn.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare } from '../../src/commands/compare.js';
import { diagnose } from '../../src/commands/diagnose.js';
import { defineStrategy } from '../../src/core/strategies/define-strategy.js';
import { batchedStrategy } from '../../src/core/strategies/batched-strategy.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import { optimizedStrategy } from '../../src/core/strategies/optimized-strategy.js';
import type { Report } from '../../src/report/model.js';
import { seededBackend, testCacheDir, type TestBackend } from '../support/backends.js';
import { runInProcess } from '../support/cli.js';
import { describeIf, NEEDS_SERVER, testServerUrl } from '../support/skip.js';

/** Everything but what the clock decides (latencies, statement durations), in the report's own key order. */
function exact(report: Report): unknown {
  const { strategies, contextIdentical, baseline } = JSON.parse(JSON.stringify(report), (key, v) =>
    key === 'latencyMs' || key === 'durationMs' ? undefined : v,
  ) as Report;
  return { strategies, contextIdentical, baseline };
}

describeIf(testServerUrl, NEEDS_SERVER)('--concurrency on a real PostgreSQL', () => {
  let db: TestBackend;
  beforeAll(async () => {
    db = await seededBackend('postgres', 'tiny');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('K = 4 gives exactly the figures, findings and prompt hashes of K = 1', async () => {
    const strategies = [naiveStrategy, optimizedStrategy, batchedStrategy];
    const one = await compare({ url: db.url, strategies, repeat: 2, concurrency: 1 });
    const four = await compare({ url: db.url, strategies, repeat: 2, concurrency: 4 });
    expect(one.strategies[0]!.turns).toBeGreaterThan(4);
    expect(four.strategies.map((s) => s.turns)).toEqual(one.strategies.map((s) => s.turns));
    expect(four.strategies.map((s) => s.turnDetails.map((t) => t.promptSha256))).toEqual(
      one.strategies.map((s) => s.turnDetails.map((t) => t.promptSha256)),
    );
    expect(four.strategies.map((s) => s.findings)).toEqual(one.strategies.map((s) => s.findings));
    expect(exact(four)).toEqual(exact(one));
    // Each turn kept its own latencies (repeat 2): none lost or mixed up between connections.
    for (const s of four.strategies) for (const t of s.turnDetails) expect(t.latencyMs).toHaveLength(2);
  });

  it('measures on K connections at once', async () => {
    const pids = new Set<number>();
    let inFlight = 0;
    let most = 0;
    const pidStrategy = defineStrategy({
      name: 'pid',
      async build(db) {
        inFlight += 1;
        most = Math.max(most, inFlight);
        try {
          const { rows } = await db.query('select pg_backend_pid() as pid, pg_sleep(0.02)');
          pids.add(Number((rows[0] as { pid: number }).pid));
          return 'same prompt';
        } finally {
          inFlight -= 1;
        }
      },
    });
    const report = await compare({ url: db.url, strategies: [pidStrategy], concurrency: 4 });
    expect(report.strategies[0]!.turns).toBeGreaterThan(4);
    expect(pids.size).toBe(4);
    expect(most).toBe(4);
  });

  it('diagnose: K = 4 gives the figures of K = 1, and the CLI takes --concurrency and --details', async () => {
    const strategies = [naiveStrategy, optimizedStrategy];
    const conversations = ['de-care-1', 'en-edge-1', 'es-casa-1', 'fa-shop-1'];
    const one = await diagnose({ url: db.url, strategies, conversations, concurrency: 1 });
    const four = await diagnose({ url: db.url, strategies, conversations, concurrency: 4 });
    expect(one.strategies[0]!.turns).toBeGreaterThan(4);
    expect(exact(four)).toEqual(exact(one));
    const cli = await runInProcess(['diagnose', '--db', db.url, '--conversation', conversations.join(','), '--concurrency', '4', '--details', 'summary', '--format', 'json']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const report = JSON.parse(cli.stdout) as Report;
    expect(report.strategies[0]!.turnDetails.map((t) => t.promptSha256)).toEqual(one.strategies[0]!.turnDetails.map((t) => t.promptSha256));
    for (const t of report.strategies[0]!.turnDetails) expect('statements' in t).toBe(false);
  });

  it('the CLI passes --concurrency through: the same JSON figures as without it', async () => {
    const [one, four] = await Promise.all([
      runInProcess(['compare', '--db', db.url, '--format', 'json', '--strategies', 'naive,batched']),
      runInProcess(['compare', '--db', db.url, '--format', 'json', '--strategies', 'naive,batched', '--concurrency', '4']),
    ]);
    expect(four.stderr).toBe('');
    expect([one.code, four.code]).toEqual([0, 0]);
    expect(exact(JSON.parse(four.stdout))).toEqual(exact(JSON.parse(one.stdout)));
  });
});

describe('--concurrency on the embedded database and bad values', () => {
  it('says on stderr that the embedded database runs one turn at a time, and runs', async () => {
    const result = await runInProcess(['compare', '--scale', 'tiny', '--conversation', 'de-care-1', '--concurrency', '4', '--format', 'json', '--details', 'none'], {
      CTXBENCH_CACHE_DIR: testCacheDir,
    });
    // (After the seeding line when this run is the first on an empty cache.)
    expect(result.stderr.replace(/^ctxbench: seeding the embedded database \(scale tiny, seed 1\)…\n/m, '')).toMatch(
      /^ctxbench: --concurrency 4: the embedded database measures one turn at a time .*; using 1\n$/,
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).strategies[0].turns).toBeGreaterThan(0);
  });

  for (const [value, message] of [
    ['0', '--concurrency: expected a whole number ≥ 1, got "0"'],
    ['two', '--concurrency: expected a whole number ≥ 1, got "two"'],
    ['65', '--concurrency: at most 64 connections, got 65'],
  ] as const) {
    it(`refuses --concurrency ${value} with exit 2`, async () => {
      const result = await runInProcess(['compare', '--scale', 'tiny', '--concurrency', value]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe('');
    });
  }
});

describe('--details', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-details-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const base = ['compare', '--scale', 'tiny', '--conversation', 'de-care-1', '--strategies', 'naive,batched', '--format', 'json'];

  it('all (the default) streams every turn with its statements, none leaves turnDetails out, summary drops statements', async () => {
    const runs = {} as Record<'all' | 'summary' | 'none' | 'default', Report>;
    for (const level of ['default', 'all', 'summary', 'none'] as const) {
      const file = path.join(dir, `${level}.json`);
      const result = await runInProcess([...base, ...(level === 'default' ? [] : ['--details', level]), '--output', file]);
      // Nothing on stderr but, when this run is the first on an empty cache, the seeding line.
      expect(result.stderr.replace(/^ctxbench: seeding the embedded database \(scale tiny, seed 1\)…\n/, '')).toBe('');
      expect(result.code).toBe(0);
      runs[level] = JSON.parse(await readFile(file, 'utf8'));
    }
    const turns = runs.all.strategies[0]!.turns;
    expect(turns).toBeGreaterThan(1);
    expect(exact(runs.default)).toEqual(exact(runs.all));
    for (const s of runs.all.strategies) {
      expect(s.turnDetails).toHaveLength(turns);
      for (const t of s.turnDetails) expect(t.statements).toHaveLength(t.queries);
    }
    for (const s of runs.summary.strategies) {
      expect(s.turnDetails).toHaveLength(turns);
      for (const t of s.turnDetails) expect('statements' in t).toBe(false);
    }
    expect(runs.summary.strategies.map((s) => s.turnDetails.map((t) => [t.queries, t.bytes, t.promptSha256]))).toEqual(
      runs.all.strategies.map((s) => s.turnDetails.map((t) => [t.queries, t.bytes, t.promptSha256])),
    );
    for (const s of runs.none.strategies) expect('turnDetails' in s).toBe(false);
    // What the run folded is the same whatever the report keeps.
    for (const level of ['summary', 'none'] as const) {
      expect(runs[level].strategies.map(({ totals, findings, sections, turns }) => ({ totals, findings, sections, turns }))).toEqual(
        runs.all.strategies.map(({ totals, findings, sections, turns }) => ({ totals, findings, sections, turns })),
      );
    }
  });

  it('a budget is still checked on every turn with --details none (the details are kept until it is)', async () => {
    const result = await runInProcess([...base, '--details', 'none', '--max-queries', '1']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.budget.passed).toBe(false);
    expect(report.budget.violations.filter((v: { strategy: string }) => v.strategy === 'naive').length).toBe(report.strategies[0].turns);
    expect('turnDetails' in report.strategies[0]).toBe(false);
  });

  it('refuses an unknown level with exit 2', async () => {
    const result = await runInProcess([...base, '--details', 'some']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--details: expected one of all, summary, none, got "some"');
  });
});
