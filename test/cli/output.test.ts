/**
 * --output and --update-baseline: an unwritable destination is a usage error found with the
 * other options (exit 2, before any database work), and writing never replaces a symlink.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runInProcess } from '../support/cli.js';

// Nothing listens on port 1: had a command reached the database, it would exit 3, not 2.
const nowhere = 'postgres://postgres@127.0.0.1:1/nowhere';

describe('--output destinations', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-output-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing output directory is exit 2 naming the flag and path, before any database work, for every writer', async () => {
    const out = path.join(dir, 'nonexistent', 'r.json');
    const why = `cannot write ${out}: directory ${path.join(dir, 'nonexistent')} does not exist`;
    const marker = path.join(dir, 'ran');
    const cache = path.join(dir, 'cache');
    const env = { CTXBENCH_CACHE_DIR: cache };
    const cases: [string[], string][] = [
      [['compare', '--db', nowhere, '--output', out], `--output: ${why}`],
      [['check', '--db', nowhere, '--strategies', 'naive', '--max-queries', '5', '--output', out], `--output: ${why}`],
      [['snapshot', '--db', nowhere, '--output', out], `--output: ${why}`],
      // Embedded: it would seed into the cache directory first.
      [['compare', '--scale', 'tiny', '--output', out], `--output: ${why}`],
      [['sweep', '--scales', 'tiny,default', '--output', out], `--output: ${why}`],
      [['diagnose', '--db', nowhere, '--conversation', 'c1', '--output', out], `--output: ${why}`],
      [['proxy', '--upstream', nowhere, '--listen', '127.0.0.1:0', '--output', out], `--output: ${why}`],
      [
        ['record', '--upstream', nowhere, '--output', out, '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`],
        `--output: ${why}`,
      ],
    ];
    for (const [args, line] of cases) {
      const r = await runInProcess(args, env);
      expect({ args, code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ args, code: 2, stderr: `ctxbench: ${line}\n`, stdout: '' });
    }
    expect(existsSync(marker)).toBe(false); // record never ran its command
    expect(existsSync(cache)).toBe(false); // nothing was seeded
  });

  it('check --update-baseline checks that the baseline can be written back, before any database work', async () => {
    const baseline = path.join(dir, 'gone', 'ctxbench.baseline.json');
    const r = await runInProcess(['check', '--db', nowhere, '--baseline', baseline, '--update-baseline'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`ctxbench: --baseline: cannot write ${baseline}: directory ${path.join(dir, 'gone')} does not exist\n`);
  });

  it('a directory given as the output is exit 2 too', async () => {
    const r = await runInProcess(['compare', '--db', nowhere, '--output', dir], {});
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: `ctxbench: --output: cannot write ${dir}: is a directory\n` });
  });

  it('compare --format json --output LINK writes through the symlink to its target', async () => {
    const target = path.join(dir, 'report.json');
    const link = path.join(dir, 'link.json');
    await writeFile(target, 'old');
    await symlink('report.json', link);
    const r = await runInProcess(['compare', '--scale', 'tiny', '--strategies', 'naive', '--conversation', 'en-edge-1', '--format', 'json', '--output', link]);
    expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ code: 0, stderr: '', stdout: '' });
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe('report.json');
    expect(JSON.parse(await readFile(target, 'utf8')).strategies.map((s: { name: string }) => s.name)).toEqual(['naive']);
    expect((await readdir(dir)).sort()).toEqual(['link.json', 'report.json']);
  });
});
