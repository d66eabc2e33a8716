/**
 * Sharding a `--db` database, on the embedded server and on a real PostgreSQL when
 * CTXBENCH_TEST_DATABASE_URL names one: `compare --db … --shard` and `diagnose --shard` merge
 * into exactly the unsharded report.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../../src/report/model.js';
import { backendKinds, seededBackend, type TestBackend } from '../support/backends.js';
import { runInProcess as run } from '../support/cli.js';
import { sayWhySkipped, NEEDS_SERVER } from '../support/skip.js';

if (!backendKinds.includes('postgres')) sayWhySkipped(`the real-server half: ${NEEDS_SERVER}`);

/** A report's exact content: everything but timings. */
function exact(report: Report) {
  const text = JSON.stringify({ ...report, database: report.database.kind }, (key, value) =>
    key === 'latencyMs' || key === 'durationMs' || key === 'shard' || key === 'diagnosis' ? undefined : value,
  );
  return JSON.parse(text) as unknown;
}

describe.each(backendKinds)('sharding a --db database (%s)', (kind) => {
  let backend: TestBackend;
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  const read = async (name: string): Promise<Report> => JSON.parse(await readFile(file(name), 'utf8')) as Report;
  const conversations = ['--conversation', 'en-first-1,es-casa-1,fa-shop-1'];

  beforeAll(async () => {
    backend = await seededBackend(kind);
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-merge-db-'));
  }, 180_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await backend?.close();
  });

  const measure = async (command: string[], output: string) => {
    const r = await run([...command, '--format', 'json', '--output', file(output)], { DATABASE_URL: '' });
    expect(r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('ctxbench: shard '))).toEqual([]);
    expect(r.code).toBe(0);
  };

  it('compare --db … --shard 1/2, 2/2 then merge: the unsharded report', async () => {
    const command = ['compare', '--db', backend.url, ...conversations, '--strategies', 'naive,optimized'];
    await measure(command, 'full.json');
    await measure([...command, '--shard', '1/2'], 'c1.json');
    await measure([...command, '--shard', '2/2'], 'c2.json');
    // fa-shop-1 (6 turns) alone; en-first-1 and es-casa-1 (4 each) together.
    expect((await read('c1.json')).strategies[0]!.turnDetails.map((t) => t.conversationId)).toEqual(Array(6).fill('fa-shop-1'));
    const merged = await run(['merge', file('c1.json'), file('c2.json'), '--format', 'json']);
    expect(merged.code).toBe(0);
    const full = await read('full.json');
    expect(full.strategies[0]!.turns).toBe(14);
    expect(exact(JSON.parse(merged.stdout) as Report)).toEqual(exact(full));
  }, 120_000);

  it("diagnose --shard 1/2, 2/2 then merge: the unsharded diagnosis's figures, findings and prompt hashes", async () => {
    const command = ['diagnose', '--db', backend.url, ...conversations, '--strategies', 'naive,optimized'];
    await measure(command, 'd.json');
    await measure([...command, '--shard', '1/2'], 'd1.json');
    await measure([...command, '--shard', '2/2'], 'd2.json');
    const merged = await run(['merge', file('d2.json'), file('d1.json'), '--format', 'json']);
    expect(merged.code).toBe(0);
    const report = JSON.parse(merged.stdout) as Report & { diagnosis?: unknown };
    expect(report.diagnosis).toBeUndefined();
    expect(exact(report)).toEqual(exact(await read('d.json')));
  }, 120_000);
});
