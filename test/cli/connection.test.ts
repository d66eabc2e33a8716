import { describe, expect, it } from 'vitest';
import { connectionUrlFromEnv } from '../../src/cli/connection.js';

describe('PG* environment variables', () => {
  it('builds a URL from the libpq variables, TLS options included', () => {
    expect(
      connectionUrlFromEnv({ PGHOST: 'db.internal', PGPORT: '6543', PGUSER: 'app', PGPASSWORD: 'p@ss w', PGDATABASE: 'prod', PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/ca.pem' }),
    ).toBe('postgres://app:p%40ss%20w@db.internal:6543/prod?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem');
  });

  it('is absent without PGHOST or PGDATABASE; a socket directory falls back to localhost', () => {
    expect(connectionUrlFromEnv({ PGUSER: 'app' })).toBeUndefined();
    expect(connectionUrlFromEnv({ PGHOST: '/var/run/postgresql', PGDATABASE: 'x' })).toBe('postgres://localhost/x');
  });
});

describe('passwords in connection strings are never shown', () => {
  it('masks user:password@, ?password=, ?sslpassword= and libpq keyword/value password=', async () => {
    const { maskSecrets, maskUrl } = await import('../../src/core/errors.js');
    expect(maskUrl('postgres://me:pw1@db/app')).toBe('postgres://me:***@db/app');
    expect(maskUrl('postgres://me@db/app?password=pw2&sslmode=require')).toBe('postgres://me@db/app?password=***&sslmode=require');
    expect(maskUrl('postgres://me@db/app?sslpassword=pw3')).toBe('postgres://me@db/app?sslpassword=***');
    expect(maskUrl("host=db password='p w 4' dbname=app")).toBe('host=db password=*** dbname=app');
    expect(maskSecrets('cannot connect to host=db password=pw5 user=me: refused')).toBe(
      'cannot connect to host=db password=*** user=me: refused',
    );
    expect(maskSecrets('see postgres://me:pw6@db/x?PASSWORD=pw7#f')).toBe('see postgres://me:***@db/x?PASSWORD=***#f');
    // Not a password setting: left alone.
    expect(maskSecrets('nopassword=1 mypassword=2')).toBe('nopassword=1 mypassword=2');
  });

  it('compare with an unreachable ?password= URL (flag or DATABASE_URL) exits 3 and prints no password', async () => {
    const { runInProcess } = await import('../support/cli.js');
    const flag = await runInProcess(['compare', '--db', 'postgres://me@127.0.0.1:1/nowhere?password=s3cret-q']);
    expect(flag.code).toBe(3);
    expect(flag.stderr).toMatch(/^ctxbench: cannot connect to postgres:\/\/me@127\.0\.0\.1:1\/nowhere\?password=\*\*\* /);
    const env = await runInProcess(['compare'], { DATABASE_URL: 'postgres://me@127.0.0.1:1/db?sslpassword=s3cret-q' });
    expect(env.code).toBe(3);
    for (const r of [flag, env]) expect(r.stdout + r.stderr).not.toContain('s3cret-q');
  });

  it("record with an unreachable ?password= upstream: the JSON report's database.url and stderr hold no password", async () => {
    const { mkdtemp, readFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { runInProcess } = await import('../support/cli.js');
    const dir = await mkdtemp(join(tmpdir(), 'ctxbench-mask-'));
    try {
      const output = join(dir, 'rec.json');
      const r = await runInProcess(
        ['record', '--upstream', 'postgres://me@127.0.0.1:1/db?password=s3cret-r', '--output', output, '--', 'node', '-e', '0'],
        { PATH: process.env.PATH },
      );
      expect(r.code).toBe(0);
      const report = JSON.parse(await readFile(output, 'utf8'));
      expect(report.database.url).toBe('postgres://me@127.0.0.1:1/db?password=***');
      expect(JSON.stringify(report)).not.toContain('s3cret-r');
      expect(r.stdout + r.stderr).not.toContain('s3cret-r');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
