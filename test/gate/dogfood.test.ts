/**
 * ctxbench gates itself: the committed budget file and baseline must hold for the built-in
 * strategies on the default scale. Changing what a strategy sends means re-running
 * `ctxbench snapshot --strategies naive,optimized,batched --output ctxbench.baseline.json`.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { testCacheDir } from '../support/backends.js';

describe('dogfooding', () => {
  it('the built-in strategies meet ctxbench.budget.json and ctxbench.baseline.json', async () => {
    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      stdout: (t) => void (stdout += t),
      stderr: (t) => void (stderr += t),
      env: { CTXBENCH_CACHE_DIR: testCacheDir },
      stdoutIsTTY: false,
      stderrIsTTY: false,
    };
    const code = await runCli(
      ['check', '--budget', 'ctxbench.budget.json', '--baseline', 'ctxbench.baseline.json', '--strategies', 'naive,optimized,batched', '--format', 'json'],
      io,
    );
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
