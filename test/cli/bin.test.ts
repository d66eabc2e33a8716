/**
 * The real bin, spawned as a user runs it: exit codes and parseable output.
 */
import { describe, expect, it } from 'vitest';
import { interruptAt, spawnCtxbench as ctxbench } from '../support/cli.js';

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
      expect(Object.keys(s.perTurn).sort()).toEqual(['bytes', 'latencyMs', 'payloadBytes', 'promptBytes', 'promptTokens', 'queries', 'roundTrips', 'rows']);
      expect(Object.keys(s.perTurn.latencyMs).sort()).toEqual(['max', 'p50', 'p95']);
      expect(Object.keys(s.totals).sort()).toEqual(['bytes', 'payloadBytes', 'promptTokens', 'queries', 'roundTrips', 'rows']);
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

  it('exits 3 with exactly one line when the database refuses the connection', async () => {
    const r = await ctxbench(['compare', '--db', 'postgres://me:hunter2@127.0.0.1:1/app']);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('ctxbench: cannot connect to postgres://me:***@127.0.0.1:1/app: connection refused (is the server running?)\n');
    expect(r.stdout).toBe('');
  });

  it('exits 2 naming an unknown conversation', async () => {
    const r = await ctxbench(['compare', '--scale', 'tiny', '--conversation', 'no-such-1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('ctxbench: --conversation: no conversation "no-such-1" in this database');
  });

  it('SIGTERM during a hung build: compare cancels, rolls back, prints the turns completed and exits 130', async () => {
    const r = await interruptAt(
      ['compare', '--scale', 'tiny', '--strategies', 'test/cli/strategies/hangs.ts', '--format', 'json'],
      'hangs: waiting forever',
      'SIGTERM',
    );
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('ctxbench: terminated: cancelling the statement in flight, rolling back, then printing what was measured');
    expect(r.stderr).toContain('ctxbench: interrupted: the report covers the 1 turn every strategy completed\n');
    const report = JSON.parse(r.stdout);
    expect(report.interrupted).toBe(true);
    expect(report.strategies.map((s: { name: string; turns: number }) => [s.name, s.turns])).toEqual([['hangs', 1]]);
  });

  it('SIGTERM while the embedded database runs a ten-minute statement: it is stopped, and compare exits 130 with what was measured', async () => {
    // PGlite cannot cancel pg_sleep(600); it runs on its own thread, so the signal is still handled.
    const r = await interruptAt(
      ['compare', '--scale', 'tiny', '--strategies', 'test/cli/strategies/sleeps.ts', '--format', 'json'],
      'sleeps: sleeping',
      'SIGTERM',
    );
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const report = JSON.parse(r.stdout);
    expect(report.interrupted).toBe(true);
    expect(report.strategies.map((s: { name: string }) => s.name)).toEqual(['sleeps']);
  });

  it('a --turn-timeout stops a statement the embedded database cannot cancel, and names the strategy', async () => {
    const r = await ctxbench(['compare', '--scale', 'tiny', '--conversation', 'en-first-1', '--strategies', 'test/cli/strategies/sleeps.ts', '--turn-timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ctxbench: strategy "sleeps" \(test\/cli\/strategies\/sleeps\.ts\) timed out after 1 s on turn en-first-1\//);
  });

  it('Ctrl-C during check: exit 130 with the partial report, not a budget verdict', async () => {
    const r = await interruptAt(
      ['check', '--scale', 'tiny', '--strategies', 'test/cli/strategies/hangs.ts', '--max-queries', '100', '--format', 'json'],
      'hangs: waiting forever',
      'SIGINT',
    );
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const report = JSON.parse(r.stdout);
    expect(report.interrupted).toBe(true);
    expect(report.strategies[0].turns).toBe(1);
    expect(report.budget.passed).toBe(true);
  });

  it('a reader that stops early (| head) ends it quietly with exit 0, not an EPIPE trace', async () => {
    const { execFile } = await import('node:child_process');
    const { repoRoot } = await import('../support/cli.js');
    const r = await new Promise<{ code: number; stderr: string; stdout: string }>((resolve) =>
      execFile('bash', ['-c', 'set -o pipefail; node bin/ctxbench.js compare --help | head -1'], { cwd: repoRoot }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(r.stdout).toBe('Usage: ctxbench compare [options]\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
