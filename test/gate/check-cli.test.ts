/**
 * The CI gate through the CLI: the baseline round trip with its ratchet, budget files with
 * silenced findings, and machine-readable outputs (JUnit parsed as XML, markdown).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess as run } from '../support/cli.js';


const common = ['--scale', 'tiny', '--conversation', 'en-first-1'];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-gate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('baseline and ratchet', () => {
  it('snapshot → check passes → one more query fails naming the added fingerprint → after an improvement --update-baseline tightens', async () => {
    const file = path.join(dir, 'baseline.json');
    expect((await run(['snapshot', ...common, '--strategies', 'optimized', '--output', file])).code).toBe(0);
    const written = JSON.parse(await readFile(file, 'utf8'));
    expect(Object.keys(written.strategies)).toEqual(['optimized']);
    expect(Object.values(written.strategies.optimized).map((t) => (t as { queries: number }).queries)).toEqual([7, 7, 7, 7]);

    const same = await run(['check', ...common, '--strategies', 'optimized', '--baseline', file]);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('✓ no figure grew');

    const worse = await run(['check', ...common, '--strategies', 'test/cli/strategies/optimized-plus-one.ts', '--baseline', file]);
    expect(worse.code).toBe(1);
    expect(worse.stdout).toMatch(/✗ optimized · turn en-first-1\/\w+: queries 7 → 8/);
    expect(worse.stdout).toContain('+ optimized · turn en-first-1/');
    expect(worse.stdout).toContain('0× → 1×  select business_name from users where id = $1');
    expect(worse.stderr).toContain('grew beyond the baseline');

    // The same statement sent inside a section: the added shape is named with its section.
    const inSection = await run(['check', ...common, '--strategies', 'test/cli/strategies/optimized-plus-one-in-section.ts', '--baseline', file]);
    expect(inSection.code).toBe(1);
    expect(inSection.stdout).toMatch(/\+ optimized · turn en-first-1\/\w+ · system: 0× → 1×  select business_name from users where id = \$1/);

    // Adopt the worse code as the baseline, then improve: the ratchet tightens the file.
    const loose = path.join(dir, 'loose.json');
    await run(['snapshot', ...common, '--strategies', 'test/cli/strategies/optimized-plus-one.ts', '--output', loose]);
    const improved = await run(['check', ...common, '--strategies', 'optimized', '--baseline', loose, '--update-baseline']);
    expect(improved.code).toBe(0);
    expect(improved.stderr).toContain(`tightened ${loose}`);
    const tightened = JSON.parse(await readFile(loose, 'utf8'));
    expect(Object.values(tightened.strategies.optimized).map((t) => (t as { queries: number }).queries)).toEqual([7, 7, 7, 7]);
    expect(await readFile(loose, 'utf8')).toBe(await readFile(file, 'utf8'));
  });

  it('a baseline of other data, or one that matches no turn, is exit 2; unmatched turns are listed', async () => {
    const file = path.join(dir, 'tiny.json');
    expect((await run(['snapshot', ...common, '--strategies', 'optimized', '--output', file])).code).toBe(0);
    const tiny = JSON.parse(await readFile(file, 'utf8'));
    expect(tiny.dataset).toEqual({ scale: 'tiny', seed: 1 });
    const variant = async (name: string, change: (b: typeof tiny) => unknown) => {
      const copy = structuredClone(tiny);
      change(copy);
      const f = path.join(dir, name);
      await writeFile(f, JSON.stringify(copy));
      return f;
    };

    const otherSeed = await variant('seed2.json', (b) => (b.dataset.seed = 2));
    const r1 = await run(['check', ...common, '--strategies', 'optimized', '--baseline', otherSeed]);
    expect([r1.code, r1.stderr]).toEqual([
      2,
      `ctxbench: --baseline: ${otherSeed} was snapshotted on scale tiny, seed 2, this run used scale tiny, seed 1: figures of different data cannot be compared (run on the baseline's dataset, or snapshot again)\n`,
    ]);

    const turns = Object.keys(tiny.strategies.optimized);
    expect(turns).toHaveLength(4);
    const renamed = await variant('renamed.json', (b) => {
      b.strategies.optimized = Object.fromEntries(Object.entries(b.strategies.optimized).map(([k, v]) => [`old-${k}`, v]));
    });
    const r2 = await run(['check', ...common, '--strategies', 'optimized', '--baseline', renamed]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/^ctxbench: --baseline: .*renamed\.json: no turn of strategy "optimized" matches \(it has old-en-first-1\/\w+, .*\): nothing was compared; snapshot again\n$/);

    const otherStrategy = await variant('other.json', (b) => {
      b.strategies = { mine: b.strategies.optimized };
    });
    const r3 = await run(['check', ...common, '--strategies', 'optimized', '--baseline', otherStrategy]);
    expect([r3.code, r3.stderr]).toEqual([2, `ctxbench: --baseline: ${otherStrategy} has no strategy of this run (it has mine; the run has optimized): nothing was compared\n`]);

    // Some turns match: compared, and the others listed by name.
    const partial = await variant('partial.json', (b) => {
      delete b.strategies.optimized[turns[3]!];
      delete b.dataset;
    });
    const r4 = await run(['check', ...common, '--strategies', 'optimized', '--baseline', partial]);
    expect(r4.code).toBe(0);
    expect(r4.stdout).toContain('✓ no figure grew');
    expect(r4.stdout).toContain('3 turns compared');
    expect(r4.stdout).toContain('dataset not checked: unknown on one side (a baseline without one, or a --db/--setup database)');
    expect(r4.stdout).toContain(`not in the baseline, so not checked (snapshot again to add them): optimized · ${turns[3]}\n`);
  });

  it('a missing baseline file is exit 2 telling how to create it', async () => {
    const r = await run(['check', ...common, '--strategies', 'optimized', '--baseline', path.join(dir, 'nope.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no such file (create it with "ctxbench snapshot --output');
  });
});

describe('budget files and reports', () => {
  it('check with a budget file: exit 1, violations listed; silenced findings marked with their reason', async () => {
    const file = path.join(dir, 'ctxbench.budget.json');
    await writeFile(
      file,
      JSON.stringify({
        strategies: { naive: { queries: 30 }, optimized: { queries: 7, sections: { websites: { queries: 2 } } } },
        silence: [{ fingerprint: 'select * from "users" where "id" = $1 limit $2', reason: 'one row, primary key' }],
      }),
    );
    const r = await run(['check', ...common, '--budget', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ optimized · websites · turn en-first-1\/\w+: queries 3 > budget 2/);
    expect(r.stdout).toContain('[silenced: one row, primary key]');
    expect(r.stderr).toContain('budget violations');
  });

  it('a silence that matched nothing is reported as stale; check --strict fails on it (exit 1)', async () => {
    const file = path.join(dir, 'stale.budget.json');
    const live = 'select * from "users" where "id" = $1 limit $2';
    const gone = 'select * from "no_such_table" where "id" = $1';
    await writeFile(
      file,
      JSON.stringify({
        strategies: { naive: { queries: 100 } },
        silence: [
          { fingerprint: live, reason: 'one row, primary key' },
          { fingerprint: gone, reason: 'the old loop' },
        ],
      }),
    );
    const lenient = await run(['check', ...common, '--budget', file, '--format', 'json']);
    expect(lenient.code).toBe(0);
    expect(JSON.parse(lenient.stdout).budget.staleSilences).toEqual([{ fingerprint: gone, reason: 'the old loop' }]);
    const table = await run(['check', ...common, '--budget', file]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`! stale silence: matched nothing in this run (the old loop)  ${gone}`);
    const strict = await run(['check', ...common, '--budget', file, '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain(`✗ stale silence: matched nothing in this run (the old loop)  ${gone}`);
    expect(strict.stderr).toContain('ctxbench: 1 stale silence (--strict)');
  });

  it('--format junit is well-formed JUnit XML with a test case per strategy × budget', async () => {
    const out = path.join(dir, 'report.xml');
    const r = await run(['compare', ...common, '--max-queries', '10', '--max-bytes', '50000', '--format', 'junit', '--output', out]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const xml = await readFile(out, 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
    const suites = parsed.testsuites.testsuite;
    expect(suites.map((s: { name: string }) => s.name)).toEqual(['ctxbench naive', 'ctxbench optimized']);
    const naiveCases = [suites[0].testcase].flat();
    expect(naiveCases.map((c: { name: string }) => c.name)).toEqual(['budget queries per turn ≤ 10 (--max-queries)', 'budget bytes per turn ≤ 50000 (--max-bytes)']);
    expect(naiveCases.every((c: { failure?: unknown }) => c.failure !== undefined)).toBe(true);
    const optimizedCases = [suites[1].testcase].flat();
    expect(optimizedCases.map((c: { failure?: unknown }) => c.failure === undefined)).toEqual([true, true, true]);
    expect(parsed.testsuites.failures).toBe('2');
  });

  it('a strategy that fails still writes --format junit --output: the failure as a JUnit failure, exit 1', async () => {
    const out = path.join(dir, 'failed.xml');
    const r = await run(['check', ...common, '--strategies', 'naive,test/cli/strategies/throws.ts', '--max-queries', '99', '--format', 'junit', '--output', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ctxbench: strategy "throws" \(test\/cli\/strategies\/throws\.ts\) failed on turn en-first-1\/\w+: column "no_such_column" does not exist/m);
    const xml = await readFile(out, 'utf8');
    expect(XMLValidator.validate(xml)).toBe(true);
    const parsed = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(xml);
    expect(parsed.testsuites).toMatchObject({ tests: '1', failures: '1' });
    const suite = parsed.testsuites.testsuite;
    expect(suite).toMatchObject({ name: 'ctxbench throws', tests: '1', failures: '1' });
    expect(suite.testcase.classname).toBe('ctxbench.throws');
    expect(suite.testcase.failure.message).toMatch(/^strategy "throws" \(test\/cli\/strategies\/throws\.ts\) failed on turn en-first-1\/\w+: column "no_such_column" does not exist/);
  });

  it('--format markdown carries the table, findings and violations for a pull-request comment', async () => {
    const r = await run(['compare', ...common, '--max-queries', '10', '--format', 'markdown']);
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('|') && l.includes('naive'))!;
    expect(header.split('|').length - 2).toBe(4);
    expect(r.stdout).toContain('**Findings**');
    expect(r.stdout).toMatch(/\*\*Budget \(per turn, from flags\)\*\*/);
    expect(r.stdout).toMatch(/- ✗ naive · turn en-first-1\/\w+: queries 2\d \\> budget 10/);
  });
});
