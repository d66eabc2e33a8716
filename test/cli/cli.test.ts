/**
 * CLI wiring, in-process: a fresh commander program per call, output captured.
 */
import { describe, expect, it } from 'vitest';
import { runInProcess } from '../support/cli.js';

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runInProcess(args, env);


describe('ctxbench CLI', () => {
  it('prints help with the exit codes and exits 0', async () => {
    const r = await run(['compare', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--strategies');
    expect(r.stdout).toMatch(/Exit codes:[\s\S]*3\s+database unreachable/);
  });

  it('rejects an unknown option with exit 2', async () => {
    const r = await run(['compare', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--frobnicate'");
  });

  it('reports every bad flag at once, each naming its flag, exit 2', async () => {
    const r = await run(['compare', '--repeat', 'abc', '--format', 'xml', '--scale', 'huge', '--strategies', 'naive,bogus', '--seed', '-1']);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines.some((l) => l.includes('--repeat') && l.includes('"abc"'))).toBe(true);
    expect(lines.some((l) => l.includes('--format') && l.includes('"xml"'))).toBe(true);
    expect(lines.some((l) => l.includes('--scale') && l.includes('huge'))).toBe(true);
    expect(lines.some((l) => l.includes('--strategies') && l.includes('"bogus"'))).toBe(true);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('rejects a --db that is not a PostgreSQL URL with exit 2', async () => {
    const r = await run(['compare', '--db', 'mysql://root@localhost/x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--db: expected a postgres:// or postgresql:// URL');
  });

  it('gives exit 3 for an unreachable database and never prints its password', async () => {
    const r = await run(['compare', '--db', 'postgres://me:s3cret-pw@127.0.0.1:1/nowhere']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^ctxbench: cannot connect to postgres:\/\/me:\*\*\*@127\.0\.0\.1:1\/nowhere: connection refused/);
    expect(r.stderr + r.stdout).not.toContain('s3cret-pw');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('takes the database from DATABASE_URL when --db is absent', async () => {
    const r = await run(['compare'], { DATABASE_URL: 'postgres://u:hidden@127.0.0.1:1/db' });
    expect(r.code).toBe(3);
    expect(r.stderr).not.toContain('hidden');
  });

  it('rejects --scale with --db: a server is measured as it is', async () => {
    const r = await run(['compare', '--db', 'postgres://127.0.0.1:1/x', '--scale', 'tiny']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--scale/--seed: only apply to the embedded database');
  });

  it('names a missing strategy file and a file that exports nothing, exit 2', async () => {
    const r = await run(['compare', '--strategies', 'naive,./no/such/file.ts,test/cli/strategies/exports-nothing.mjs']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('strategy file ./no/such/file.ts does not exist');
    expect(r.stderr).toContain('exports-nothing.mjs must export default defineStrategy');
  });
});

describe('a connection URL that cannot be right is a usage error (exit 2), not an unreachable database', () => {
  it.each([
    [['compare', '--db', 'postgres://me:hunter2@h:abc/db'], '--db'],
    [['diagnose', '--db', 'postgres://me:hunter2@h:abc/db', '--conversation', 'c1'], '--db'],
    [['seed', '--db', 'postgres://me:hunter2@h:abc/db'], '--db'],
    [['record', '--upstream', 'postgres://me:hunter2@h:abc/db', '--', 'true'], '--upstream'],
  ])('%j', async (args, flag) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`ctxbench: ${flag}: expected a port number (0–65535) after the host, got "abc" in postgres://me:***@h:abc/db\n`);
  });

  it('a port beyond 65535 too', async () => {
    const r = await run(['compare', '--db', 'postgres://h:70000/db']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ctxbench: --db: expected a port number (0–65535) after the host, got "70000" in postgres://h:70000/db\n');
  });
});
