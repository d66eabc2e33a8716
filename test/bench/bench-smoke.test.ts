/**
 * The benchmark script in --smoke mode, spawned as `npm run bench -- --smoke` would run it
 * (dist is built by `npm test` first): it must finish, and write every section with its
 * counts. Timings and ratios are never asserted — only that they are there and positive.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCacheDir } from '../support/backends.js';
import { itIf, NEEDS_SERVER } from '../support/skip.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const serverUrl = process.env.CTXBENCH_TEST_DATABASE_URL;

function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bench/bench.mjs', ...args],
      {
        cwd: root,
        // The tests' cached tiny dataset; a real server only when the test run has one.
        env: {
          ...process.env,
          CTXBENCH_CACHE_DIR: testCacheDir,
          CTXBENCH_BENCH_DATABASE_URL: serverUrl ?? '',
          DATABASE_URL: '',
          NO_COLOR: '1',
        },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 280_000,
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const positive = (value: unknown) => {
  expect(typeof value).toBe('number');
  expect(value as number).toBeGreaterThan(0);
};

async function mtimeOf(file: string): Promise<number | null> {
  return stat(file).then(
    (s) => s.mtimeMs,
    () => null,
  );
}

describe('bench/bench.mjs --smoke', () => {
  let dir: string;
  let run: { code: number; stdout: string; stderr: string };
  let results: any;
  let markdownBefore: number | null;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-bench-smoke-'));
    markdownBefore = await mtimeOf(path.join(root, 'BENCHMARKS.md'));
    const args = ['--smoke', '--json', path.join(dir, 'results.json')];
    if (!serverUrl) args.push('--no-postgres');
    run = await runBench(args);
    results = run.code === 0 ? JSON.parse(await readFile(path.join(dir, 'results.json'), 'utf8')) : null;
  }, 300_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0, prints every section, and leaves BENCHMARKS.md alone', async () => {
    expect(run.stderr).not.toMatch(/^bench:/m);
    expect(run.code).toBe(0);
    for (const title of ['1. Latency per turn', '2. Instrumentation overhead', '3. Embedded start', '4. Seeding throughput']) {
      expect(run.stdout).toContain(title);
    }
    expect(await mtimeOf(path.join(root, 'BENCHMARKS.md'))).toBe(markdownBefore);
  });

  it('records the run and the machine', () => {
    expect(results).toMatchObject({ version: 1, mode: 'smoke' });
    expect(results.command).toContain('--smoke');
    positive(results.durationMs);
    expect(results.machine.cpuModel).toEqual(expect.any(String));
    positive(results.machine.cores);
    positive(results.machine.memoryBytes);
    expect(results.machine.node).toBe(process.version);
    expect(results.machine.pglite).toMatch(/^\d+\.\d+/);
    expect(results.machine.pgliteServerVersion).toMatch(/^\d+/);
  });

  it('latency: every strategy at RTT 0, with its counts and a ratio to naive', () => {
    const { latency } = results;
    expect(latency.scale).toBe('tiny');
    expect(latency.repeat).toBe(1);
    // The fixture conversations at the tiny scale: counts are exact and repeatable.
    expect(latency.turns).toBe(21);
    expect(latency.samplesPerFigure).toBe(21);
    expect(latency.strategies.map((s: { name: string; queriesPerTurn: number; roundTripsPerTurn: number; bytesPerTurn: number }) => [s.name, s.queriesPerTurn, s.roundTripsPerTurn, s.bytesPerTurn])).toEqual([
      ['naive', 21.905, 21.905, 316118],
      ['optimized', 6.619, 6.619, 13798],
      ['batched', 1, 1, 12696],
    ]);
    expect(latency.byRtt.map((r: { rttMs: number }) => r.rttMs)).toEqual([0]);
    for (const figures of [latency.direct, latency.byRtt[0].strategies]) {
      expect(figures.map((s: { name: string }) => s.name)).toEqual(['naive', 'optimized', 'batched']);
      for (const s of figures) {
        positive(s.latencyMs.p50);
        positive(s.latencyMs.p95);
        positive(s.ratioToNaive);
      }
    }
  });

  it('overhead: raw and instrumented medians on each backend, every statement recorded', () => {
    const { overhead } = results;
    const kinds = overhead.backends.map((b: { kind: string }) => b.kind);
    expect(kinds).toEqual(serverUrl ? ['postgres', 'pglite'] : ['pglite']);
    for (const b of overhead.backends) {
      expect(b.statementsPerSide).toBe(300);
      expect(b.recordedStatements).toBe(300);
      expect(b.rowsPerStatement).toBe(6);
      positive(b.wireBytesPerStatement);
      positive(b.rawMedianUs);
      positive(b.instrumentedMedianUs);
      positive(b.ratio);
      expect(b.tapReplay.statements).toBe(1000);
      positive(b.tapReplay.tappedUs);
      // Call sites, side by side: every timed statement of that side resolved to the bench's own line.
      expect(b.callSites).toMatchObject({ statements: 300, resolvedStatements: 300, depth: 16, entryDepth: 8 });
      for (const key of ['medianUs', 'p95Us', 'ratio', 'entryCaptureUs', 'captureUs', 'resolveUs', 'finaliseUsPerStatement']) positive(b.callSites[key]);
      expect(b.callSites.overInstrumentedUs).toEqual(expect.any(Number));
      expect(b.callSites.cpuOverInstrumentedUs).toEqual(expect.any(Number));
    }
    expect(run.stdout).toContain('2a. Call sites');
  });

  itIf(serverUrl, NEEDS_SERVER)('overhead on PostgreSQL: the same statements through the proxy, a bare forwarder and socat', () => {
    const b = results.overhead.backends.find((x: { kind: string }) => x.kind === 'postgres');
    expect(b.sides).toEqual(['raw', 'instrumented', 'callSites', 'forwarder', ...(b.socatSkipped ? [] : ['socat']), 'proxied']);
    for (const side of ['raw', 'instrumented', 'forwarder', 'proxied']) {
      positive(b[side === 'proxied' ? 'proxiedMedianUs' : `${side}MedianUs`]);
      positive(b[`${side}P95Us`]);
    }
    if (b.socatSkipped) {
      expect(b.socatSkipped).toEqual(expect.any(String));
      expect([b.socatMedianUs, b.socatP95Us, b.socatDifferenceUs]).toEqual([null, null, null]);
    } else {
      positive(b.socatMedianUs);
      positive(b.socatP95Us);
    }
    for (const key of ['proxyDifferenceUs', 'forwarderDifferenceUs', 'proxyOverForwarderUs'])
      expect(b[key]).toEqual(expect.any(Number));
    // CPU times come from /proc with a confirmed clock tick: all of them or none.
    const cpu = [b.proxyCpuUsPerStatement, b.forwarderCpuUsPerStatement, b.proxyCpuOverForwarderUs];
    if (b.cpuResolutionUs === null) expect(cpu).toEqual([null, null, null]);
    else for (const value of cpu) expect(value).toEqual(expect.any(Number));
    // The hops are warmed longer than the in-process sides (V8 compiling a fresh process's code is not per statement).
    expect(b.hopWarmupStatements).toBe(300);
    const warmupCpu = [b.proxyWarmupCpuMs, b.forwarderWarmupCpuMs];
    if (b.cpuResolutionUs === null) expect(warmupCpu).toEqual([null, null]);
    else for (const value of warmupCpu) expect(value).toEqual(expect.any(Number));
    expect(run.stdout).toContain('2b. Through a process in front of the server');
  });

  it('overhead on PGlite: no hop sides (the embedded server takes two connections)', () => {
    const b = results.overhead.backends.find((x: { kind: string }) => x.kind === 'pglite');
    expect(b.sides).toEqual(['raw', 'instrumented', 'callSites']);
    expect(b.proxiedMedianUs).toBeUndefined();
    expect(b.forwarderMedianUs).toBeUndefined();
  });

  it('startup: one cold start that seeded, warm starts that did not', () => {
    const { startup } = results;
    expect(startup.scale).toBe('tiny');
    expect(startup.cold).toMatchObject({ samples: 1, seeded: true });
    expect(startup.warm.seeded).toBe(false);
    positive(startup.warm.samples);
    for (const s of [startup.cold, startup.warm]) {
      positive(s.medianMs);
      positive(s.firstTurnQueries);
      expect(s.samplesMs).toHaveLength(s.samples);
    }
  });

  it('concurrency: K = 1 and 2 on PostgreSQL with the same figures, or skipped saying why', () => {
    const { concurrency } = results;
    expect(concurrency.levels).toEqual([1, 2]);
    if (!serverUrl) {
      expect(concurrency.skipped).toEqual(expect.any(String));
      expect(run.stdout).toContain('5. Parallel sessions');
      return;
    }
    expect(concurrency.identical).toBe(true);
    expect(concurrency.paths.map((p: { path: string }) => p.path)).toEqual(['loopback']);
    expect(concurrency.paths[0].turns).toBe(21);
    for (const b of concurrency.paths[0].byConcurrency) {
      positive(b.wallMs);
      positive(b.ratioToOne);
    }
  });

  it('process: whole compare processes, cold and warm (and --db with a server), with their peak RSS and a grouped CPU profile', () => {
    const proc = results.process;
    expect(proc.scale).toBe('tiny');
    expect(proc.goals).toEqual({ warmMs: 2500, warmRssMiB: 400, coldMs: 6000, dbMs: 1500 });
    for (const s of serverUrl ? [proc.cold, proc.warm, proc.db] : [proc.cold, proc.warm]) {
      expect(s.samples).toBe(1);
      positive(s.medianWallMs);
      positive(s.medianRssMiB);
      positive(s.medianCpuMs);
    }
    if (serverUrl) expect(proc.dbSkipped).toBeNull();
    else expect([proc.db, proc.dbSkipped]).toEqual([null, expect.any(String)]);
    expect(proc.profile.groups.map((g: { name: string }) => g.name)).toContain('PGlite WASM (PostgreSQL itself)');
    expect(run.stdout).toContain('7. Whole-process compare');
  });

  it('memory: the peak RSS of a compare process at 100 and 500 turns, and of record around pgbench', () => {
    const { memory } = results;
    expect(memory.runs.map((r: { turns: number }) => r.turns)).toEqual([100, 500]);
    for (const r of memory.runs) {
      positive(r.peakRssMiB);
      positive(r.reportMiB);
    }
    positive(memory.growth);
    expect(run.stdout).toContain('6. Flat memory');
    // record around pgbench: on a real server with pgbench, else skipped saying why.
    if (memory.record.skipped === undefined) {
      expect(memory.record.runs.map((r: { statements: number }) => r.statements >= 1000)).toEqual([true, true]);
      expect(memory.record.runs[1].statements).toBeGreaterThanOrEqual(4000);
      for (const r of memory.record.runs) positive(r.peakRssMiB);
      positive(memory.record.growth);
      expect(run.stdout).toMatch(/│ record +│ 4,0\d\d statements/);
    } else {
      expect(memory.record.skipped).toMatch(serverUrl ? /pgbench/ : /PostgreSQL/);
    }
  });

  it('seeding: rows and rows/s per target, the same rows everywhere', () => {
    const { seeding } = results;
    expect(seeding.scale).toBe('tiny');
    expect(seeding.targets.map((t: { kind: string }) => t.kind)).toEqual(serverUrl ? ['pglite', 'postgres'] : ['pglite']);
    for (const t of seeding.targets) {
      positive(t.rows);
      positive(t.rowsPerSecond);
      expect(t.rows).toBe(seeding.targets[0].rows);
    }
  });
});
