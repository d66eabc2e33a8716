/**
 * The real bin, spawned as a user runs it: exit codes and parseable output.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { testCacheDir } from '../support/backends.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function ctxbench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/ctxbench.js', ...args],
      { cwd: root, env: { ...process.env, CTXBENCH_CACHE_DIR: testCacheDir, NO_COLOR: '1', DATABASE_URL: '' }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('bin/ctxbench.js', () => {
  it('compare --format json: exit 0, the documented schema, identical contexts', async () => {
    const r = await ctxbench(['compare', '--scale', 'tiny', '--format', 'json']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.version).toBe(1);
    expect(report.database).toMatchObject({ kind: 'pglite', url: null });
    expect(report.database.serverVersion).toMatch(/^\d+/);
    expect(report.strategies.map((s: { name: string }) => s.name)).toEqual(['naive', 'optimized']);
    for (const s of report.strategies) {
      expect(Object.keys(s.perTurn).sort()).toEqual(['bytes', 'latencyMs', 'payloadBytes', 'promptBytes', 'queries', 'roundTrips', 'rows']);
      expect(Object.keys(s.perTurn.latencyMs).sort()).toEqual(['max', 'p50', 'p95']);
      expect(Object.keys(s.totals).sort()).toEqual(['bytes', 'payloadBytes', 'queries', 'roundTrips', 'rows']);
      expect(s.contextIdentical).toBe(true);
      expect(s.turnDetails).toHaveLength(s.turns);
      expect(s.turnDetails[0].promptSha256).toMatch(/^[0-9a-f]{64}$/);
      expect(s.turnDetails[0].statements[0]).toMatchObject({ seq: 1, roundTrip: 1 });
      expect(s.totals.queries).toBe(s.turnDetails.reduce((a: number, t: { queries: number }) => a + t.queries, 0));
    }
    expect(report.contextIdentical).toBe(true);
  });

  it('exits 1 with a readable diff when a strategy builds a different prompt', async () => {
    const r = await ctxbench(['compare', '--scale', 'tiny', '--strategies', 'naive,test/cli/strategies/different-prompt.ts', '--conversation', 'en-first-1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/context identical.*✓.*✗/);
    expect(r.stdout).toContain('--- naive');
    expect(r.stdout).toContain('+++ different');
    expect(r.stdout).toMatch(/^\s*-## SYSTEM$/m);
    expect(r.stderr).toContain("context differs from naive's for: different");
  });

  it('exits 2 naming an unknown conversation', async () => {
    const r = await ctxbench(['compare', '--scale', 'tiny', '--conversation', 'no-such-1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('ctxbench: --conversation: no conversation "no-such-1" in this database');
  });
});
