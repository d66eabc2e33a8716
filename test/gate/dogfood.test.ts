/**
 * ctxbench gates itself: the committed budget file and baseline must hold for the built-in
 * strategies on the default scale. Changing what a strategy sends means re-running
 * `ctxbench snapshot --strategies naive,optimized,batched --output ctxbench.baseline.json`.
 */
import { describe, expect, it } from 'vitest';
import { runInProcess } from '../support/cli.js';

describe('dogfooding', () => {
  it('the built-in strategies meet ctxbench.budget.json and ctxbench.baseline.json', async () => {
    const { code, stdout, stderr } = await runInProcess([
      'check',
      '--budget',
      'ctxbench.budget.json',
      '--baseline',
      'ctxbench.baseline.json',
      '--strategies',
      'naive,optimized,batched',
      '--format',
      'json',
    ]);
    const report = JSON.parse(stdout);
    expect({ code, stderr, budget: report.budget.passed, regressions: report.baselineFile.regressions, added: report.baselineFile.added }).toEqual({
      code: 0,
      stderr: '',
      budget: true,
      regressions: [],
      added: [],
    });
    expect(report.baselineFile.improvements).toEqual([]);
    expect(report.contextIdentical).toBe(true);
  });
});
