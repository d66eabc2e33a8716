import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneStale } from '../../src/db/embedded-server.js';
import { resolveScale } from '../../src/db/seed/scales.js';

describe('embedded cache pruning', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('removes tarballs of other code versions only once they went unused for a week', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-prune-'));
    const name = (scale: string, code: string) => `pglite-0.5.14-schema1-${scale}-seed1-fxabc-code${code}.tar`;
    const day = 24 * 3600 * 1000;
    const files: [string, number][] = [
      [name('tiny', 'current'), 0],
      // Another code version used yesterday (e.g. the built bin next to the sources): kept.
      [name('tiny', 'sibling'), 1 * day],
      [name('tiny', 'old'), 8 * day],
      // Another scale, however old: not this key's business.
      [name('default', 'old'), 30 * day],
    ];
    for (const [file, age] of files) {
      await writeFile(path.join(dir, file), 'x');
      const when = new Date(Date.now() - age);
      await utimes(path.join(dir, file), when, when);
    }
    await pruneStale(dir, name('tiny', 'current'), { scale: resolveScale('tiny'), seed: 1 });
    expect((await readdir(dir)).sort()).toEqual(
      [name('default', 'old'), name('tiny', 'current'), name('tiny', 'sibling')].sort(),
    );
  });
});
