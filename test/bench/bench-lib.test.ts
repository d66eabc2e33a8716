/**
 * The benchmark's own logic that needs no measuring: the order sides run in, reading a
 * process's CPU time, merging re-measured sections, and how section 2b words its figures.
 */
import { describe, expect, it } from 'vitest';

// Plain .mjs modules without type declarations: imported by URL, so they type as `any`.
const load = (file: string) => import(new URL(`../../bench/lib/${file}`, import.meta.url).href);
const { blockOrder } = await load('interleave.mjs');
const { cpuTicksFromStat } = await load('processes.mjs');
const { mergeProblems, mergeResults } = await load('merge.mjs');
const { latestUpdates, renderMarkdown } = await load('render.mjs');

describe('blockOrder', () => {
  const sides = ['raw', 'instrumented', 'forwarder', 'socat', 'proxied'];

  it('puts every side in every position once per round of blocks', () => {
    for (let round = 0; round < 4; round++) {
      const orders = sides.map((_, i) => blockOrder(sides, round * sides.length + i));
      for (const order of orders) expect([...order].sort()).toEqual([...sides].sort());
      for (let position = 0; position < sides.length; position++) {
        expect(new Set(orders.map((order: string[]) => order[position])).size).toBe(sides.length);
      }
    }
  });

  it('gives a side a different predecessor in alternate rounds', () => {
    const before = (order: string[], side: string) => order[order.indexOf(side) - 1];
    expect(before(blockOrder(sides, 0), 'instrumented')).toBe('raw');
    expect(before(blockOrder(sides, 5), 'instrumented')).toBe('forwarder');
  });
});

describe('cpuTicksFromStat', () => {
  it('adds utime and stime, counting fields after the command name even when it holds spaces and parentheses', () => {
    const rest = Array.from({ length: 20 }, (_, i) => i + 100);
    rest[11] = 1234; // utime (field 14)
    rest[12] = 56; // stime (field 15)
    expect(cpuTicksFromStat(`4242 (node) S ${rest.slice(1).join(' ')}\n`)).toBe(1290);
    expect(cpuTicksFromStat(`4242 (a (b) c) S ${rest.slice(1).join(' ')}\n`)).toBe(1290);
  });

  it('is null for a line it cannot read', () => {
    expect(cpuTicksFromStat('4242 (node) S 1 2')).toBeNull();
  });
});

describe('merging re-measured sections', () => {
  const machine = { cpuModel: 'CPU', cores: 2, node: 'v20.0.0', postgresServerVersion: '15.20', postgresSkipped: null };
  const base = {
    version: 1,
    mode: 'full',
    command: 'npm run bench',
    machine,
    latency: { kept: true },
    overhead: { old: true },
    startup: { kept: true },
    seeding: { kept: true },
  };
  const run = {
    version: 1,
    mode: 'full',
    command: 'npm run bench -- --only overhead --merge',
    startedAt: 'then',
    finishedAt: 'later',
    durationMs: 1000,
    machine: { ...machine, loadAverageAtStart: [1, 1, 1], loadAverageAtEnd: [2, 2, 2] },
    latency: null,
    overhead: { new: true },
    startup: null,
    seeding: null,
  };

  it('replaces only the sections run and lists the run as an update', () => {
    const merged = mergeResults(base, run, ['overhead']);
    expect(merged).toMatchObject({
      command: 'npm run bench',
      latency: { kept: true },
      overhead: { new: true },
      seeding: { kept: true },
    });
    expect(merged.updates).toEqual([
      {
        command: 'npm run bench -- --only overhead --merge',
        sections: ['overhead'],
        startedAt: 'then',
        finishedAt: 'later',
        durationMs: 1000,
        loadAverageAtStart: [1, 1, 1],
        loadAverageAtEnd: [2, 2, 2],
      },
    ]);
    expect(mergeResults(merged, run, ['overhead']).updates).toHaveLength(2);
  });

  it('says in BENCHMARKS.md which sections were re-measured, when and how', () => {
    const { updates } = mergeResults(base, run, ['overhead']);
    const text = renderMarkdown({
      mode: 'full',
      command: 'npm run bench',
      startedAt: 'now',
      durationMs: 1000,
      machine: {},
      updates,
    });
    expect(text).toContain('Re-measured later');
    expect(text).toContain('§2 instrumentation overhead on then, in 1.0 s, load average 1 / 1 / 1 at the start');
    expect(text).toContain('npm run bench -- --only overhead --merge');
  });

  it('accepts figures from the same mode, machine and PostgreSQL', () => {
    expect(mergeProblems(base, run, ['overhead'])).toEqual([]);
  });

  it('names every mismatch at once', () => {
    const other = {
      ...run,
      mode: 'smoke',
      machine: { ...run.machine, cores: 4, postgresServerVersion: null, postgresSkipped: 'off' },
    };
    expect(mergeProblems(base, other, ['overhead'])).toEqual([
      'a full run (this one is smoke)',
      'machine.cores 2 (this run: 4)',
      'figures of PostgreSQL 15.20 (this run: none, off)',
    ]);
    // Sections that never touch PostgreSQL do not care which one there was.
    expect(mergeProblems(base, { ...other, mode: 'full', machine: { ...other.machine, cores: 2 } }, ['startup'])).toEqual([]);
  });
});

describe('section 2b in BENCHMARKS.md', () => {
  const hop = {
    kind: 'postgres',
    serverVersion: '15.20',
    statementsPerSide: 2000,
    blockSize: 100,
    rawMedianUs: 300,
    rawP95Us: 400,
    instrumentedMedianUs: 301,
    instrumentedP95Us: 401,
    differenceUs: 1,
    ratio: 1.003,
    proxiedMedianUs: 345,
    proxiedP95Us: 500,
    proxyDifferenceUs: 45,
    forwarderMedianUs: 330,
    forwarderP95Us: 450,
    forwarderDifferenceUs: 30,
    socatMedianUs: 320,
    socatP95Us: 420,
    socatDifferenceUs: 20,
    socatSkipped: null,
    proxyOverForwarderUs: 15,
    proxyCpuUsPerStatement: 60,
    forwarderCpuUsPerStatement: 40,
    proxyCpuOverForwarderUs: 20,
    cpuResolutionUs: 5,
    wireBytesPerStatement: 454,
    finaliseUsPerStatement: 1,
    tapReplay: { statements: 20000, tapCpuUs: 6 },
  };
  const markdown = (backend: object) =>
    renderMarkdown({
      mode: 'full',
      command: 'npm run bench',
      startedAt: 'now',
      durationMs: 1000,
      jsonFile: 'bench/results.json',
      machine: { memoryBytes: 2 ** 30 },
      overhead: { sql: 'select 1', goalRatio: 1.05, proxyGoalUs: 50, backends: [backend] },
    }) as string;

  it('computes met / not met and splits the proxy figure into the hop and the measuring', () => {
    const text = markdown(hop);
    expect(text).toContain('### 2b. Through a process in front of the server');
    expect(text).toContain('a statement takes 45.0 µs longer than direct (goal ≤ 50.0 µs: met)');
    expect(text).toContain('a bare Node forwarder that parses nothing adds 30.0 µs and socat (C) 20.0 µs');
    expect(text).toContain('costs 20.0–30.0 µs before anything is measured (within the goal)');
    expect(text).toContain("ctxbench's measuring adds 15.0 µs over the bare forwarder");
    expect(text).toContain('the proxy process spends 60.0 µs of CPU per statement and the forwarder 40.0 µs');
    expect(markdown({ ...hop, proxyDifferenceUs: 50.1 })).toContain('(goal ≤ 50.0 µs: not met)');
  });

  it('says how long each hop was warmed up untimed, and what that one-time compiling cost, when the run measured it', () => {
    const warmed = markdown({ ...hop, hopWarmupStatements: 5000, proxyWarmupCpuMs: 740, forwarderWarmupCpuMs: 380 });
    expect(warmed).toContain(
      'each hop first ran 5000 untimed statements, while V8 compiles its hot code (740 ms of CPU for the proxy, 380 ms for the forwarder)',
    );
    // Results written before hops had a warm-up of their own say nothing about one.
    expect(markdown(hop)).not.toContain('untimed statements');
  });

  it('says what was not measured instead of a figure', () => {
    const text = markdown({
      ...hop,
      socatMedianUs: null,
      socatP95Us: null,
      socatDifferenceUs: null,
      socatSkipped: 'socat is not on PATH',
      proxyCpuUsPerStatement: null,
      forwarderCpuUsPerStatement: null,
      proxyCpuOverForwarderUs: null,
      cpuResolutionUs: null,
    });
    expect(text).toContain('(socat not measured: socat is not on PATH)');
    expect(text).toContain('socat skipped: socat is not on PATH');
    expect(text).toContain("the processes' CPU time was not read");
  });
});

describe('latestUpdates', () => {
  it('keeps the latest re-measurement of each set of sections and counts the ones it replaced', () => {
    const u = (sections: string[], startedAt: string) => ({ sections, startedAt });
    const out = latestUpdates([u(['overhead'], 'a'), u(['seed', 'start'], 'b'), u(['overhead'], 'c'), u(['start', 'seed'], 'd'), u(['overhead'], 'e')]);
    expect(out).toEqual([
      { update: u(['overhead'], 'e'), earlier: 2 },
      { update: u(['start', 'seed'], 'd'), earlier: 1 },
    ]);
  });
});
