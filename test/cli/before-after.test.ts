import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInProcess as run } from '../support/cli.js';

let dir: string;
let a: string;
let b: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-ba-'));
  const common = ['--scale', 'tiny', '--conversation', 'en-first-1', '--format', 'json'];
  const before = await run(['compare', ...common, '--strategies', 'naive']);
  const after = await run(['compare', ...common, '--strategies', 'test/cli/strategies/optimized-plus-one.ts']);
  expect([before.code, after.code]).toEqual([0, 0]);
  a = path.join(dir, 'a.json');
  b = path.join(dir, 'b.json');
  await writeFile(a, before.stdout);
  await writeFile(b, after.stdout);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A copy of a saved report, changed by `edit`. */
async function variant(from: string, name: string, edit: (report: any) => void): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const report = JSON.parse(await readFile(from, 'utf8'));
  edit(report);
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(report));
  return file;
}

describe('compare --before --after', () => {
  it('puts two saved reports side by side in the seed table, with the change column', async () => {
    const r = await run(['compare', '--before', a, '--after', b]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│\s+naive │\s+optimized │ optimized vs naive │/);
    expect(r.stdout).not.toContain('not checked');
    const report = JSON.parse((await run(['compare', '--before', a, '--after', b, '--format', 'json'])).stdout);
    expect(report.strategies.map((s: { perTurn: { queries: number } }) => s.perTurn.queries)).toEqual([24, 8]);
    expect(report.contextIdentical).toBe(true);
    expect(report.unchecked).toBeUndefined();

    const missing = await run(['compare', '--before', a]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--before and --after: give both files');
  });

  it('never says ✓ for a turn it did not compare: turns on one side only and turns without a prompt are listed', async () => {
    let dropped = '';
    const fewer = await variant(b, 'fewer.json', (r) => {
      dropped = r.strategies[0].turnDetails.pop().turn;
    });
    const one = JSON.parse((await run(['compare', '--before', a, '--after', fewer, '--format', 'json'])).stdout);
    expect(one.unchecked).toEqual({ onlyInBefore: [dropped], onlyInAfter: [], noPrompt: [] });
    expect(one.contextIdentical).toBe(true);
    const oneTable = await run(['compare', '--before', a, '--after', fewer]);
    expect(oneTable.stdout).toContain(`only in before: ${dropped}\n`);

    // No prompt hash on the after side: nothing compared, so neither ✓ nor ✗.
    const noPrompts = await variant(b, 'no-prompts.json', (r) => {
      for (const t of r.strategies[0].turnDetails) delete t.promptSha256;
    });
    const none = await run(['compare', '--before', a, '--after', noPrompts, '--format', 'json']);
    expect(none.code).toBe(0);
    const noneReport = JSON.parse(none.stdout);
    expect(noneReport.contextIdentical).toBeNull();
    expect(noneReport.strategies.map((s: { contextIdentical: unknown }) => s.contextIdentical)).toEqual([null, null]);
    expect(noneReport.unchecked.noPrompt).toHaveLength(4);
    expect(noneReport.strategies[1].turnDetails.map((t: { contextIdentical: unknown }) => t.contextIdentical)).toEqual([null, null, null, null]);
    const table = (await run(['compare', '--before', a, '--after', noPrompts])).stdout;
    expect(table).toMatch(/context identical\s+│\s+not checked │\s+not checked │\s+not checked │/);
    expect(table).not.toContain('✓');
    expect(table).toContain(`not checked: no prompt: ${noneReport.unchecked.noPrompt.join(', ')}\n`);

    // One turn without a prompt among equal ones: still not ✓.
    const onePrompt = await variant(b, 'one-prompt.json', (r) => {
      r.strategies[0].turnDetails[0].promptSha256 = '';
    });
    const partial = JSON.parse((await run(['compare', '--before', a, '--after', onePrompt, '--format', 'json'])).stdout);
    expect(partial.contextIdentical).toBeNull();
    expect(partial.unchecked.noPrompt).toHaveLength(1);

    // A differing hash is still ✗ (exit 1).
    const changed = await variant(b, 'changed.json', (r) => {
      r.strategies[0].turnDetails[1].promptSha256 = 'f'.repeat(64);
    });
    const differs = await run(['compare', '--before', a, '--after', changed, '--format', 'json']);
    expect(differs.code).toBe(1);
    expect(JSON.parse(differs.stdout).contextIdentical).toBe(false);
  });

  it('a report without turnDetails is exit 2 naming the file and the field', async () => {
    const cut = await variant(a, 'cut.json', (r) => {
      delete r.strategies[0].turnDetails;
    });
    const r = await run(['compare', '--before', cut, '--after', b]);
    expect([r.code, r.stderr]).toEqual([2, `ctxbench: --before: ${cut}: strategies[0].turnDetails: missing (write the report with --format json)\n`]);
  });
});
