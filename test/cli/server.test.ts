/**
 * On a real PostgreSQL (when CTXBENCH_TEST_DATABASE_URL names one): `ctxbench seed --db` then
 * `ctxbench compare --db` measures what the embedded run measures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServerDatabase, type TestBackend } from '../support/backends.js';
import { spawnCtxbench as ctxbench } from '../support/cli.js';
import { describeIf, NEEDS_SERVER, testServerUrl } from '../support/skip.js';



type Json = { strategies: { name: string; turnDetails: { queries: number; roundTrips: number; rows: number; payloadBytes: number; promptSha256: string }[] }[] };

function gateable(report: Json) {
  return report.strategies.map((s) => ({
    name: s.name,
    turns: s.turnDetails.map(({ queries, roundTrips, rows, payloadBytes, promptSha256 }) => ({ queries, roundTrips, rows, payloadBytes, promptSha256 })),
  }));
}

describeIf(testServerUrl, NEEDS_SERVER)('seed and compare on a real PostgreSQL', () => {
  let db: TestBackend;
  beforeAll(async () => {
    db = await createServerDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  it('seeds explicitly, refuses to seed again without --force, and measures what the embedded run measures', async () => {
    const seeded = await ctxbench(['seed', '--db', db.url, '--scale', 'tiny']);
    expect(seeded.stderr).toBe('');
    expect(seeded.code).toBe(0);
    expect(seeded.stdout).toMatch(/seeded postgres:\/\/.*scale tiny, seed 1/);

    const again = await ctxbench(['seed', '--db', db.url, '--scale', 'tiny']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--force');

    const [server, embedded] = await Promise.all([
      ctxbench(['compare', '--db', db.url, '--format', 'json']),
      ctxbench(['compare', '--scale', 'tiny', '--format', 'json']),
    ]);
    expect(server.code).toBe(0);
    expect(embedded.code).toBe(0);
    const s = JSON.parse(server.stdout);
    const e = JSON.parse(embedded.stdout);
    expect(s.database.kind).toBe('postgres');
    expect(s.database.serverVersion).toMatch(/^\d+/);
    expect(gateable(s)).toEqual(gateable(e));
  });
});
