/**
 * Sharded runs joined by `ctxbench merge`: the merged report has exactly the unsharded run's
 * figures, findings, sections and prompt hashes (on the reference fixtures and on a `--turns`
 * run of another schema); incomplete or mismatched shards are refused with exit 2; and
 * `check --report` gates the merged report as `check` gates a run.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentiles } from '../../src/core/runner.js';
import type { Report } from '../../src/report/model.js';
import { runInProcess as run, spawnCtxbench } from '../support/cli.js';

let dir: string;
const file = (name: string) => path.join(dir, name);
const read = async (name: string): Promise<Report> => JSON.parse(await readFile(file(name), 'utf8')) as Report;
const write = (name: string, report: unknown) => writeFile(file(name), JSON.stringify(report));

/** Runs ctxbench and insists it succeeded (the output is in a file), saying nothing but its shard and, on an empty cache, the seeding. */
async function ok(args: string[]): Promise<string> {
  const r = await run(args);
  expect(r.stderr.split('\n').filter((l) => !/^ctxbench: (shard |seeding the embedded database )/.test(l) && l !== '')).toEqual([]);
  expect(r.code).toBe(0);
  return r.stderr;
}

/**
 * Everything of a report that is exact (not a timing): figures per turn and in totals,
 * sections, findings, prompt hashes, contextIdentical, and every statement but its duration.
 */
function exact(report: Report) {
  return {
    tool: report.tool,
    dataset: report.dataset,
    repeat: report.repeat,
    tokenizer: report.tokenizer,
    baseline: report.baseline,
    contextIdentical: report.contextIdentical,
    strategies: report.strategies.map((s) => {
      const { latencyMs: _latency, ...perTurn } = s.perTurn;
      return {
        name: s.name,
        source: s.source,
        turns: s.turns,
        perTurn,
        totals: s.totals,
        contextIdentical: s.contextIdentical,
        difference: s.difference,
        findings: s.findings,
        sections: s.sections,
        turnDetails: s.turnDetails.map(({ latencyMs: _l, statements, ...d }) => ({
          ...d,
          statements: statements.map(({ durationMs: _d, ...st }) => st),
        })),
      };
    }),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-merge-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('merge on the reference fixtures', () => {
  const common = ['--scale', 'tiny', '--strategies', 'naive,optimized', '--format', 'json'];

  beforeAll(async () => {
    await ok(['compare', ...common, '--output', file('full.json')]);
    for (const i of [1, 2, 3]) await ok(['compare', ...common, '--shard', `${i}/3`, '--output', file(`shard-${i}.json`)]);
    await ok([
      'merge',
      file('shard-1.json'),
      file('shard-2.json'),
      file('shard-3.json'),
      '--format',
      'json',
      '--output',
      file('merged.json'),
    ]);
    // The whole run's baseline, written from the merged report.
    const snap = await run(['snapshot', '--report', file('merged.json'), '--output', file('baseline.json')]);
    expect([snap.code, snap.stderr]).toEqual([0, `ctxbench: wrote ${file('baseline.json')} (2 strategies, 42 turns)\n`]);
  }, 240_000);

  it('compare --shard 1/3, 2/3, 3/3 then merge: exactly the unsharded report, whatever the order the files are named in', async () => {
    const full = await read('full.json');
    const merged = await read('merged.json');
    expect(full.strategies[0]!.turns).toBe(21);
    expect(exact(merged)).toEqual(exact(full));
    // The figures users gate on, spelled out (docs/commands.md's example at tiny scale).
    expect(merged.strategies.map((s) => [s.name, s.totals.queries, s.totals.roundTrips, s.totals.rows])).toEqual([
      ['naive', 460, 460, 918],
      ['optimized', 139, 139, 557],
    ]);
    expect(merged.strategies[0]!.findings.length).toBeGreaterThan(10);
    // What-if fixes (on in the compare command) add up across shards as across turns.
    const fixes = (r: typeof merged) => r.strategies[0]!.findings.flatMap((f) => (f.fix === undefined ? [] : [[f.kind, f.fingerprint, f.fix]]));
    expect(fixes(merged).length).toBeGreaterThan(0);
    expect(fixes(merged)).toEqual(fixes(full));
    expect(merged.shard).toBeUndefined();
    await ok([
      'merge',
      file('shard-3.json'),
      file('shard-1.json'),
      file('shard-2.json'),
      '--format',
      'json',
      '--output',
      file('merged-321.json'),
    ]);
    expect(await readFile(file('merged-321.json'), 'utf8')).toBe(await readFile(file('merged.json'), 'utf8'));
  });

  it('each shard holds whole conversations, balanced, and says which turns of the run it has', async () => {
    const shards = await Promise.all([1, 2, 3].map((i) => read(`shard-${i}.json`)));
    const full = await read('full.json');
    const labels = full.strategies[0]!.turnDetails.map((t) => t.turn);
    const conversationsOf = shards.map((s) => new Set(s.strategies[0]!.turnDetails.map((t) => t.conversationId)));
    for (const [i, a] of conversationsOf.entries())
      for (const b of conversationsOf.slice(i + 1)) for (const c of a) expect(b.has(c)).toBe(false);
    const sizes = shards.map((s) => s.shard!.positions.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(21);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(4); // the smallest fixture conversation has 4 turns
    for (const s of shards) {
      expect(s.shard).toMatchObject({ count: 3, totalTurns: 21 });
      expect(s.strategies[0]!.turnDetails.map((t) => t.turn)).toEqual(s.shard!.positions.map((p) => labels[p]));
    }
    expect(new Set(shards.map((s) => s.shard!.turnSetSha256)).size).toBe(1);
  });

  it("recomputes latency percentiles from every measured build, not from the shards' percentiles", async () => {
    const shards = await Promise.all([1, 2, 3].map((i) => read(`shard-${i}.json`)));
    const merged = await read('merged.json');
    for (const [k, s] of merged.strategies.entries()) {
      const samples = shards.flatMap((r) => r.strategies[k]!.turnDetails.flatMap((t) => t.latencyMs));
      expect(s.turnDetails.flatMap((t) => t.latencyMs).sort()).toEqual([...samples].sort());
      expect(s.perTurn.latencyMs).toEqual(percentiles(samples));
    }
  });

  it('refuses a missing shard, a duplicate shard, and shards of another dataset, seed, strategy set or version: exit 2, naming them', async () => {
    const [s1, s2, s3] = await Promise.all([1, 2, 3].map((i) => read(`shard-${i}.json`)));
    const merge = (...names: string[]) => run(['merge', ...names.map(file), '--format', 'json']);

    const missing = await merge('shard-1.json', 'shard-3.json');
    expect([missing.code, missing.stderr, missing.stdout]).toEqual([
      2,
      'ctxbench: merge: missing shard 2/3 (given: 1/3, 3/3)\n',
      '',
    ]);
    // The real bin too (dist/, built by npm test).
    const bin = await spawnCtxbench(['merge', file('shard-1.json'), file('shard-3.json')]);
    expect([bin.code, bin.stderr]).toEqual([2, 'ctxbench: merge: missing shard 2/3 (given: 1/3, 3/3)\n']);

    await write('copy-of-2.json', s2);
    const twice = await merge('shard-1.json', 'shard-2.json', 'copy-of-2.json', 'shard-3.json');
    expect([twice.code, twice.stderr]).toEqual([
      2,
      `ctxbench: merge: shard 2/3 given 2 times: ${file('shard-2.json')}, ${file('copy-of-2.json')}\n`,
    ]);

    const variant = async (name: string, change: (r: Report) => void) => {
      const copy = structuredClone(s3!);
      change(copy);
      await write(name, copy);
      return merge('shard-1.json', 'shard-2.json', name);
    };
    const refused = (what: string, ours: string, theirs: string, name: string) =>
      `ctxbench: merge: shards made from different ${what}: ${ours} (${file('shard-1.json')}, ${file('shard-2.json')}); ${theirs} (${file(name)})\n`;

    const seed = await variant('seed-2.json', (r) => (r.dataset = { scale: 'tiny', seed: 2 }));
    expect([seed.code, seed.stderr]).toEqual([2, refused('datasets', 'scale tiny, seed 1', 'scale tiny, seed 2', 'seed-2.json')]);
    const scale = await variant('default.json', (r) => (r.dataset = { scale: 'default', seed: 1 }));
    expect([scale.code, scale.stderr]).toEqual([
      2,
      refused('datasets', 'scale tiny, seed 1', 'scale default, seed 1', 'default.json'),
    ]);
    const strategies = await variant('batched.json', (r) => (r.strategies[1]!.name = 'batched'));
    expect([strategies.code, strategies.stderr]).toEqual([
      2,
      refused('strategy sets', 'naive, optimized', 'naive, batched', 'batched.json'),
    ]);
    const version = await variant('version.json', (r) => (r.tool = { name: 'ctxbench', version: '9.9.9' }));
    expect([version.code, version.stderr]).toEqual([2, refused('ctxbench versions', s1!.tool.version, '9.9.9', 'version.json')]);
    const turns = await variant('turns.json', (r) => (r.shard!.turnSetSha256 = 'f'.repeat(64)));
    expect(turns.code).toBe(2);
    expect(turns.stderr).toContain('ctxbench: merge: shards made from different turns');

    // Not a shard, an interrupted shard, a shard without its turns: each named.
    const unsharded = await merge('shard-1.json', 'shard-2.json', 'full.json');
    expect([unsharded.code, unsharded.stderr]).toEqual([
      2,
      `ctxbench: merge: ${file('full.json')}: not a shard report (no "shard" field): write each part with --shard i/n --format json\n`,
    ]);
    const interrupted = await variant('interrupted.json', (r) => (r.interrupted = true));
    expect([interrupted.code, interrupted.stderr]).toEqual([
      2,
      `ctxbench: merge: ${file('interrupted.json')}: shard 3/3 was interrupted and covers only some of its turns: run it again\n`,
    ]);
    const bare = await variant('bare.json', (r) => delete (r.strategies[0] as Partial<Report['strategies'][0]>).turnDetails);
    expect([bare.code, bare.stderr]).toEqual([
      2,
      `ctxbench: merge: ${file('bare.json')}: strategy "naive" has no turnDetails: every turn's figures are needed (write the report with its turn details)\n`,
    ]);
    const mangled = await variant('mangled.json', (r) => ((r.shard as unknown as { positions: string }).positions = 'all'));
    expect([mangled.code, mangled.stderr]).toEqual([
      2,
      `ctxbench: merge: ${file('mangled.json')}: shard: expected { index, count, totalTurns, turnSetSha256, positions } as ctxbench writes it\n`,
    ]);
    const none = await run(['merge', file('nothing-here.json')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('nothing-here.json');
  });

  it('check --report merged.json gates the whole run once: exit 1 over budget, 0 within it, the same verdicts as the unsharded report', async () => {
    const over = await run(['check', '--report', file('merged.json'), '--max-queries', '26', '--format', 'json']);
    expect(over.code).toBe(1);
    expect(over.stderr).toBe('ctxbench: 5 budget violations\n'); // the 5 naive turns of 27 queries
    const overFull = await run(['check', '--report', file('full.json'), '--max-queries', '26', '--format', 'json']);
    expect(JSON.parse(over.stdout).budget).toEqual(JSON.parse(overFull.stdout).budget);

    const within = await run(['check', '--report', file('merged.json'), '--max-queries', '27']);
    expect([within.code, within.stderr]).toEqual([0, '']);
    expect(within.stdout).toContain('✓ all 2 budgets met');

    const total = await run(['check', '--report', file('merged.json'), '--max-queries', '459', '--per', 'total']);
    expect(total.code).toBe(1);
    expect((await run(['check', '--report', file('merged.json'), '--max-queries', '460', '--per', 'total'])).code).toBe(0);

    // A baseline round trip through saved reports: snapshot --report (beforeAll), then check --report.
    const unshardedBaseline = await run(['snapshot', '--report', file('full.json')]);
    expect(unshardedBaseline.stdout).toBe(await readFile(file('baseline.json'), 'utf8'));
    const baselined = await run(['check', '--report', file('merged.json'), '--baseline', file('baseline.json')]);
    expect([baselined.code, baselined.stderr]).toEqual([0, '']);
    expect(baselined.stdout).toContain('✓ no figure grew');
    expect(baselined.stdout).toContain('42 turns compared');
  });

  it("check --shard against the whole run's baseline judges its own turns and does not call the other shards' turns missing", async () => {
    const shard = await read('shard-1.json');
    const mine = shard.shard!.positions.length;
    const r = await run([
      'check',
      '--scale',
      'tiny',
      '--strategies',
      'naive,optimized',
      '--shard',
      '1/3',
      '--baseline',
      file('baseline.json'),
      '--max-queries',
      '27',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${2 * mine} turns compared`);
    expect(r.stdout).not.toContain('not replayed');
    expect(r.stderr).toBe(
      `ctxbench: shard 1/3: ${mine} of 21 turns; join the shards with "ctxbench merge" and gate the result with "ctxbench check --report"\n`,
    );
  });

  it('check --report refuses a lone shard and run flags; check --shard refuses what one shard cannot judge', async () => {
    const untokenized = structuredClone(await read('merged.json'));
    untokenized.tokenizer = null;
    await write('untokenized.json', untokenized);
    const tokens = await run(['check', '--report', file('untokenized.json'), '--max-prompt-tokens', '5000']);
    expect([tokens.code, tokens.stderr]).toEqual([
      2,
      `ctxbench: --report: ${file('untokenized.json')} has no prompt tokens (it was made with --tokenizer none): a promptTokens budget cannot judge it\n`,
    ]);
    const lone = await run(['check', '--report', file('shard-1.json'), '--max-queries', '30']);
    expect([lone.code, lone.stderr]).toEqual([
      2,
      `ctxbench: --report: ${file('shard-1.json')} is shard 1/3 of a run: merge every shard first ("ctxbench merge shard-*.json --format json --output merged.json") and check the merged report\n`,
    ]);
    const mixed = await run([
      'check',
      '--report',
      file('merged.json'),
      '--max-queries',
      '30',
      '--scale',
      'tiny',
      '--shard',
      '1/3',
    ]);
    expect([mixed.code, mixed.stderr]).toEqual([
      2,
      'ctxbench: --scale: chooses what to run; --report gates a saved report (give one or the other)\n' +
        'ctxbench: --shard: chooses what to run; --report gates a saved report (give one or the other)\n',
    ]);
    const partial = await run([
      'check',
      '--scale',
      'tiny',
      '--shard',
      '1/3',
      '--strategies',
      'optimized',
      '--max-queries',
      '100',
      '--per',
      'total',
      '--strict',
    ]);
    expect(partial.code).toBe(2);
    expect(partial.stderr).toContain('ctxbench: --shard: a budget per total covers the whole run, not one shard');
    expect(partial.stderr).toContain('ctxbench: --shard and --strict: a silence may match a finding of another shard');
  });
});

describe('merge with empty shards', () => {
  it('more shards than conversations: the empty shards report no turns, and the merge is still the unsharded report', async () => {
    const common = ['--scale', 'tiny', '--conversation', 'en-first-1', '--strategies', 'optimized', '--format', 'json'];
    await ok(['compare', ...common, '--output', file('one.json')]);
    const notes = [];
    for (const i of [1, 2, 3])
      notes.push(await ok(['compare', ...common, '--shard', `${i}/3`, '--output', file(`one-${i}.json`)]));
    expect(notes[1]).toBe(
      'ctxbench: shard 2/3: 0 of 4 turns; join the shards with "ctxbench merge" and gate the result with "ctxbench check --report"\n',
    );
    expect((await read('one-3.json')).strategies[0]!.turns).toBe(0);
    await ok([
      'merge',
      file('one-1.json'),
      file('one-2.json'),
      file('one-3.json'),
      '--format',
      'json',
      '--output',
      file('one-merged.json'),
    ]);
    expect(exact(await read('one-merged.json'))).toEqual(exact(await read('one.json')));
  }, 120_000);
});

describe('merge of a --turns run on another schema', () => {
  // Turns without a conversation are each a group of their own; those sharing a conversationId stay together.
  const turns = [
    { id: 'ticket-4', ticketId: 4, conversationId: 'x' },
    { id: 'ticket-7', ticketId: 7, conversationId: 'x' },
    { id: 'ticket-10', ticketId: 10 },
    { id: 'ticket-12', ticketId: 12, conversationId: 'y' },
    { id: 'ticket-13', ticketId: 13 },
    { id: 'ticket-20', ticketId: 20, conversationId: 'x' },
    { id: 'ticket-21', ticketId: 21 },
  ];

  it('merge(--shard 1/2, 2/2) equals the unsharded run exactly', async () => {
    await writeFile(file('turns.json'), JSON.stringify(turns));
    const common = [
      '--setup',
      'examples/own-schema/schema.sql',
      '--turns',
      file('turns.json'),
      '--strategies',
      'examples/own-schema/naive.ts,examples/own-schema/joined.ts',
      '--format',
      'json',
    ];
    await ok(['compare', ...common, '--output', file('own.json')]);
    for (const i of [1, 2]) await ok(['compare', ...common, '--shard', `${i}/2`, '--output', file(`own-${i}.json`)]);
    // x (3 turns) first; then the 1-turn groups: y, then the loose turns by position.
    expect((await read('own-1.json')).shard!.positions).toEqual([0, 1, 5, 6]);
    expect((await read('own-2.json')).shard!.positions).toEqual([2, 3, 4]);
    await ok(['merge', file('own-2.json'), file('own-1.json'), '--format', 'json', '--output', file('own-merged.json')]);
    const full = await read('own.json');
    const merged = await read('own-merged.json');
    expect(exact(merged)).toEqual(exact(full));
    expect(full.strategies[0]!.findings.some((f) => f.kind === 'n-plus-one')).toBe(true);
    expect(merged.strategies.map((s) => s.turnDetails.map((t) => t.promptSha256))).toEqual(
      full.strategies.map((s) => s.turnDetails.map((t) => t.promptSha256)),
    );
  }, 180_000);
});

describe('--conversation all', () => {
  it('replays every conversation of the database, by id in byte order, and shards them', async () => {
    const common = ['--scale', 'tiny', '--conversation', 'all', '--strategies', 'optimized', '--format', 'json'];
    for (const i of [1, 2]) await ok(['compare', ...common, '--shard', `${i}/2`, '--output', file(`all-${i}.json`)]);
    await ok(['merge', file('all-1.json'), file('all-2.json'), '--format', 'json', '--output', file('all.json')]);
    const merged = await read('all.json');
    const ids = [...new Set(merged.strategies[0]!.turnDetails.map((t) => t.conversationId!))];
    // The tiny dataset's conversations with a customer message: the 5 fixtures and 13 generated ones.
    expect(ids.length).toBe(18);
    expect(ids.filter((id) => /^[a-z]{2}-[a-z]+-1$/.test(id))).toEqual([
      'de-care-1',
      'en-edge-1',
      'en-first-1',
      'es-casa-1',
      'fa-shop-1',
    ]);
    // Ids are ASCII: JavaScript's sort is byte order here.
    expect(ids).toEqual([...ids].sort());
    expect(merged.strategies[0]!.turns).toBe(215);
    const sizes = await Promise.all([1, 2].map(async (i) => (await read(`all-${i}.json`)).strategies[0]!.turns));
    expect(sizes[0]! + sizes[1]!).toBe(215);
  }, 180_000);
});

describe('merge of a sharded sweep', () => {
  it("sweep --shard 1/2 and 2/2 (json keeps each scale's report) merge to exactly the unsharded sweep", async () => {
    const common = [
      '--scales',
      'tiny,default',
      '--conversation',
      'en-first-1,es-casa-1',
      '--strategies',
      'naive,optimized',
      '--format',
      'json',
    ];
    await ok(['sweep', ...common, '--output', file('sweep.json')]);
    for (const i of [1, 2]) await ok(['sweep', ...common, '--shard', `${i}/2`, '--output', file(`sweep-${i}.json`)]);
    const one = JSON.parse(await readFile(file('sweep-1.json'), 'utf8'));
    expect(one.reports.map((r: Report) => r.shard!.positions)).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    await ok(['merge', file('sweep-1.json'), file('sweep-2.json'), '--format', 'json', '--output', file('sweep-merged.json')]);
    expect(await readFile(file('sweep-merged.json'), 'utf8')).toBe(await readFile(file('sweep.json'), 'utf8'));
    await write('run-shard.json', one.reports[0]);
    const mixed = await run(['merge', file('sweep-1.json'), file('run-shard.json')]);
    expect([mixed.code, mixed.stderr]).toEqual([
      2,
      `ctxbench: merge: sweep shards (${file('sweep-1.json')}) and run shards (${file('run-shard.json')}) cannot be merged together\n`,
    ]);
  }, 240_000);
});
