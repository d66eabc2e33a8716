import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneStale, removeStalePartials } from '../../src/db/embedded-server.js';
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

  it('removes the .partial files of dead writers on this host and old ones, not those being written', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-partials-'));
    const host = os.hostname().replace(/[^\w-]/g, '_') || 'host';
    const tar = 'pglite-0.5.14-cache2-schema1-tiny-seed1-fxabc-codecurrent.tar';
    // Above any pid_max Linux allows: no such process.
    const dead = 2 ** 30;
    const minute = 60 * 1000;
    const files: [string, number][] = [
      [`${tar}.${host}.${dead}.0badcafe.partial`, 0], // its writer died: removed
      [`${tar}.${host}.${process.pid}.0123abcd.partial`, 0], // being written (by us): kept
      [`${tar}.${host}.${process.pid}.4567abcd.partial`, 60 * minute], // untouched for an hour: removed
      [`${tar}.another-host.${dead}.89abcdef.partial`, 1 * minute], // another host's pid means nothing here: kept
      [`${tar}.another-host.${dead}.fedcba98.partial`, 11 * minute], // but not written for 11 minutes: removed
      [`${tar}.4242-deadbeef.partial`, 20 * minute], // an older version's name, abandoned: removed
      [`${tar}.4243-deadbeef.partial`, 1 * minute], // an older version's name, fresh: kept
      [tar, 60 * minute], // the cache itself: not a partial
      ['notes.partial', 60 * minute], // not ours
    ];
    for (const [file, age] of files) {
      await writeFile(path.join(dir, file), 'x');
      const when = new Date(Date.now() - age);
      await utimes(path.join(dir, file), when, when);
    }
    await mkdir(path.join(dir, 'sub'));
    await removeStalePartials(dir);
    expect((await readdir(dir)).sort()).toEqual(
      [
        `${tar}.${host}.${process.pid}.0123abcd.partial`,
        `${tar}.another-host.${dead}.89abcdef.partial`,
        `${tar}.4243-deadbeef.partial`,
        tar,
        'notes.partial',
        'sub',
      ].sort(),
    );
  });

  it('leaves a missing cache directory alone', async () => {
    await expect(removeStalePartials(path.join(os.tmpdir(), 'ctxbench-no-such-dir-7f3a'))).resolves.toBeUndefined();
  });
});
