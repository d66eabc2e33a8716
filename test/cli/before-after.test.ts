import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInProcess as run } from '../support/cli.js';

describe('compare --before --after', () => {
  it('puts two saved reports side by side in the seed table, with the change column', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-ba-'));
    const common = ['--scale', 'tiny', '--conversation', 'en-first-1', '--format', 'json'];
    const a = await run(['compare', ...common, '--strategies', 'naive']);
    const b = await run(['compare', ...common, '--strategies', 'test/cli/strategies/optimized-plus-one.ts']);
    expect([a.code, b.code]).toEqual([0, 0]);
    await writeFile(path.join(dir, 'a.json'), a.stdout);
    await writeFile(path.join(dir, 'b.json'), b.stdout);
    const r = await run(['compare', '--before', path.join(dir, 'a.json'), '--after', path.join(dir, 'b.json')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/│\s+naive │\s+optimized │ optimized vs naive │/);
    const report = JSON.parse((await run(['compare', '--before', path.join(dir, 'a.json'), '--after', path.join(dir, 'b.json'), '--format', 'json'])).stdout);
    expect(report.strategies.map((s: { perTurn: { queries: number } }) => s.perTurn.queries)).toEqual([24, 8]);
    expect(report.contextIdentical).toBe(true);

    const missing = await run(['compare', '--before', path.join(dir, 'a.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--before and --after: give both files');
  });
});
