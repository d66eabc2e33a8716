/**
 * The embedded cache from the user's side: a damaged cache is one line on stderr and a re-seed,
 * `seed --force` rebuilds it, and a cache that cannot be written is one warning, not exit 70.
 */
import { readdir, readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runInProcess, spawnCtxbench, repoRoot } from '../support/cli.js';
import { existsSync } from 'node:fs';

const seeding = 'ctxbench: seeding the embedded database (scale tiny, seed 1)…\n';

describe('the embedded cache, through the CLI', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-cli-cache-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a truncated cache is named on stderr and seeded again; seed --force rebuilds a valid one', async () => {
    const env = { CTXBENCH_CACHE_DIR: dir };
    const first = await runInProcess(['seed', '--scale', 'tiny'], env);
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: seeding });
    const [name] = await readdir(dir);
    const cached = path.join(dir, name!);
    const good = await readFile(cached);
    await writeFile(cached, good.subarray(0, 1000));

    const healed = await runInProcess(['seed', '--scale', 'tiny'], env);
    expect(healed.code).toBe(0);
    expect(healed.stderr).toBe(
      `ctxbench: ignoring the embedded database cache ${cached}: no checksum at its end: truncated, or not written by ctxbench; seeding it again\n${seeding}`,
    );
    expect(healed.stdout).toMatch(/^seeded the embedded database \(scale tiny, seed 1\)/);
    expect((await runInProcess(['seed', '--scale', 'tiny'], env)).stdout).toBe('embedded database for scale tiny, seed 1 is already cached\n');

    const forced = await runInProcess(['seed', '--scale', 'tiny', '--force'], env);
    expect({ code: forced.code, stderr: forced.stderr }).toEqual({ code: 0, stderr: seeding });
    expect(forced.stdout).toMatch(/^seeded the embedded database \(scale tiny, seed 1\)/);
    expect(await readdir(dir)).toEqual([name]);
  }, 300_000); // three seedings

  it('an unwritable cache directory: compare runs uncached with one warning', async () => {
    await writeFile(path.join(dir, 'file'), 'not a directory');
    const cacheDir = path.join(dir, 'file', 'cache');
    const r = await runInProcess(
      ['compare', '--scale', 'tiny', '--strategies', 'naive', '--conversation', 'en-edge-1', '--format', 'json'],
      { CTXBENCH_CACHE_DIR: cacheDir },
    );
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').filter((l) => l !== '' && l !== seeding.trim())).toEqual([
      `ctxbench: cannot write the embedded database cache in ${cacheDir} (ENOTDIR: not a directory, mkdir '${cacheDir}'); running uncached`,
    ]);
    expect(JSON.parse(r.stdout).strategies).toHaveLength(1);
  }, 180_000);

  it('an unusable HOME (the default cache under it): the bin runs uncached with one warning', async (ctx) => {
    if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'))) {
      console.log('skipped: needs dist/ (npm run build)');
      ctx.skip();
    }
    const home = path.join(dir, 'home-is-a-file');
    await writeFile(home, 'x');
    const r = await spawnCtxbench(
      ['compare', '--scale', 'tiny', '--strategies', 'naive', '--conversation', 'en-edge-1', '--format', 'json'],
      { CTXBENCH_CACHE_DIR: '', XDG_CACHE_HOME: '', HOME: home },
    );
    expect(r.code).toBe(0);
    const cacheDir = path.join(home, '.cache', 'ctxbench');
    expect(r.stderr.split('\n').filter((l) => l !== '' && l !== seeding.trim())).toEqual([
      `ctxbench: cannot write the embedded database cache in ${cacheDir} (ENOTDIR: not a directory, mkdir '${cacheDir}'); running uncached`,
    ]);
  }, 180_000);
});
