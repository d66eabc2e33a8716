/**
 * `diagnose --what-if` and `compare --no-what-if`, as a user runs them. Every statement that
 * reaches the database is seen by a recording proxy in front of it: without --what-if diagnose
 * sends nothing beyond its own statements; with it, exactly the rewrites (inside savepoints)
 * and the catalog reads come on top.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWireProxy, type WireProxy } from '../../src/core/net/wire-proxy.js';
import { backendKinds, seededBackend, type TestBackend } from '../support/backends.js';
import { spawnCtxbench as ctxbench } from '../support/cli.js';

interface JsonFinding {
  kind: string;
  sql: string;
  fix?: { status: string; statements?: number; before?: { statements: number } };
}

/** The statements a run sent through a fresh proxy, by SQL, and what the CLI printed. */
async function throughProxy(
  backend: TestBackend,
  args: string[],
): Promise<{ sql: string[]; code: number; stdout: string; stderr: string }> {
  const upstream = new URL(backend.url);
  const proxy: WireProxy = await startWireProxy({
    upstreamHost: upstream.hostname,
    upstreamPort: Number(upstream.port),
    upstreamTls: { mode: 'disable' },
    showContent: true,
  });
  try {
    const url = new URL(backend.url);
    url.hostname = proxy.host;
    url.port = String(proxy.port);
    const r = await ctxbench(['diagnose', '--db', url.toString(), ...args]);
    return { ...r, sql: proxy.recording().statements.map((s) => s.sql) };
  } finally {
    await proxy.close();
  }
}

/** What-if's own statements: everything between its savepoint and the savepoint's end, and the catalog reads. */
function whatIfStatements(sql: readonly string[]): { extra: string[]; rest: string[] } {
  const extra: string[] = [];
  const rest: string[] = [];
  let inside = false;
  for (const s of sql) {
    if (s === 'savepoint ctxbench_after') inside = true;
    if (inside || /\bto_regclass\(/.test(s)) extra.push(s);
    else rest.push(s);
    if (/^(release|rollback to) savepoint ctxbench_after$/.test(s)) inside = false;
  }
  return { extra, rest };
}

describe.each(backendKinds)('what-if from the CLI on %s', (kind) => {
  let backend: TestBackend;
  beforeAll(async () => {
    backend = await seededBackend(kind);
  }, 120_000);
  afterAll(async () => backend?.close());

  it('diagnose sends no extra statement without --what-if, and reports measured fixes with it', async () => {
    const args = ['--conversation', 'en-first-1', '--strategies', 'naive', '--format', 'json', '--tokenizer', 'none'];
    const off = await throughProxy(backend, args);
    expect(off.stderr).toBe('');
    expect(off.code).toBe(0);
    expect(whatIfStatements(off.sql).extra).toEqual([]);
    const offReport = JSON.parse(off.stdout);
    expect(offReport.strategies[0].findings.filter((f: JsonFinding) => f.fix !== undefined)).toEqual([]);

    const on = await throughProxy(backend, [...args, '--what-if']);
    expect(on.stderr).toBe('');
    expect(on.code).toBe(0);
    const { extra, rest } = whatIfStatements(on.sql);
    // The same statements as without, plus what-if's own.
    expect([...rest].sort()).toEqual([...off.sql].sort());
    expect(extra.length).toBeGreaterThan(0);
    const findings: JsonFinding[] = JSON.parse(on.stdout).strategies[0].findings;
    const groups = findings.filter((f) => f.kind === 'n-plus-one');
    expect(groups.length).toBe(2);
    for (const f of groups) expect(f.fix?.status).toBe('measured');
    // The turn's own figures are the same with and without.
    expect(JSON.parse(on.stdout).strategies[0].totals).toEqual(offReport.strategies[0].totals);

    const text = await throughProxy(backend, [
      '--conversation',
      'en-first-1',
      '--strategies',
      'naive',
      '--tokenizer',
      'none',
      '--what-if',
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^ {6}fix: \d+ statements? instead of \d+ \(round trips \d+ → \d+, rows \d+ → \d+\), .+ → .+, measured$/m,
    );
    expect(text.stdout).toMatch(/^ {6}fix: only the used columns, .+ saved\), measured$/m);
  }, 120_000);

  it('compare measures fixes by default; --no-what-if turns it off', async () => {
    const args = ['compare', '--db', backend.url, '--strategies', 'naive', '--format', 'json', '--tokenizer', 'none'];
    const on = await ctxbench(args);
    expect(on.code).toBe(0);
    const off = await ctxbench([...args, '--no-what-if']);
    expect(off.code).toBe(0);
    const fixes = (r: { stdout: string }) =>
      (JSON.parse(r.stdout).strategies[0].findings as JsonFinding[])
        .filter((f) => f.fix !== undefined)
        .map((f) => [f.kind, f.fix!.status]);
    expect(fixes(on)).toContainEqual(['n-plus-one', 'measured']);
    expect(fixes(off)).toEqual([]);
    expect(JSON.parse(on.stdout).strategies[0].totals).toEqual(JSON.parse(off.stdout).strategies[0].totals);
  }, 120_000);
});
