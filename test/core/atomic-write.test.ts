/**
 * writeAtomically never destroys what the path points to: a symlink stays a symlink, a FIFO or
 * a device stays one, a file keeps its mode; and outputProblem finds an unwritable path first.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, open, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

// Root ignores a directory's permissions: to test a read-only directory as root, creating the
// temporary file beside the target is made to fail the way a read-only directory makes it fail.
const injected = vi.hoisted(() => ({ failPartials: false }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof real.writeFile = async (file, ...rest) => {
    if (injected.failPartials && String(file).endsWith('.partial'))
      throw Object.assign(new Error(`EACCES: permission denied, open '${String(file)}'`), { code: 'EACCES' });
    return real.writeFile(file, ...rest);
  };
  return { ...real, default: { ...real, writeFile }, writeFile };
});

const { outputProblem, writeAtomically } = await import('../../src/core/atomic-write.js');
const { UsageError } = await import('../../src/core/errors.js');

const isRoot = process.getuid?.() === 0;

describe('writeAtomically', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-atomic-'));
  });
  afterEach(async () => {
    injected.failPartials = false;
    await chmod(dir, 0o755).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces a regular file whole and leaves nothing beside it', async () => {
    const file = path.join(dir, 'r.json');
    await writeFile(file, 'old');
    await writeAtomically(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['r.json']);
  });

  it('writes through a symlink: the link stays a link, its target gets the content', async () => {
    const target = path.join(dir, 'target.json');
    const link = path.join(dir, 'link.json');
    await writeFile(target, 'old');
    await symlink('target.json', link);
    await writeAtomically(link, 'new', '--output');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readlink(link)).toBe('target.json');
    expect(await readFile(target, 'utf8')).toBe('new');
    expect((await readdir(dir)).sort()).toEqual(['link.json', 'target.json']);
  });

  it('follows a chain of symlinks into another directory', async () => {
    await mkdir(path.join(dir, 'sub'));
    const target = path.join(dir, 'sub', 'target.json');
    await writeFile(target, 'old');
    await symlink(target, path.join(dir, 'one'));
    await symlink('one', path.join(dir, 'two'));
    await writeAtomically(path.join(dir, 'two'), 'new');
    expect((await lstat(path.join(dir, 'two'))).isSymbolicLink()).toBe(true);
    expect((await lstat(path.join(dir, 'one'))).isSymbolicLink()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('new');
    expect(await readdir(path.join(dir, 'sub'))).toEqual(['target.json']);
  });

  it('creates the target of a dangling symlink', async () => {
    const link = path.join(dir, 'link.json');
    await symlink('missing.json', link);
    await writeAtomically(link, 'new');
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readFile(path.join(dir, 'missing.json'), 'utf8')).toBe('new');
  });

  it('keeps an existing file\'s mode', async () => {
    const file = path.join(dir, 'r.json');
    await writeFile(file, 'old');
    await chmod(file, 0o640);
    await writeAtomically(file, 'new');
    expect((await stat(file)).mode & 0o7777).toBe(0o640);
    await chmod(file, 0o755);
    await writeAtomically(file, 'newer');
    expect((await stat(file)).mode & 0o7777).toBe(0o755);
    expect(await readFile(file, 'utf8')).toBe('newer');
  });

  it('writes a FIFO directly: it stays a FIFO and its reader gets the text', async (ctx) => {
    const fifo = path.join(dir, 'pipe');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch (error) {
      console.log(`skipped: mkfifo is not available (${(error as Error).message})`);
      ctx.skip();
    }
    // The reader first, so the writer's open does not wait for one.
    const chunks: Buffer[] = [];
    const reader = createReadStream(fifo);
    const read = new Promise<string>((resolve, reject) => {
      reader.on('data', (c) => chunks.push(c as Buffer));
      reader.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      reader.on('error', reject);
    });
    await writeAtomically(fifo, 'through the pipe', '--output');
    expect(await read).toBe('through the pipe');
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    expect(await readdir(dir)).toEqual(['pipe']);
  });

  it('writes a character device directly: it stays one (a private copy of /dev/null)', async (ctx) => {
    const device = path.join(dir, 'null');
    try {
      execFileSync('mknod', ['-m', '666', device, 'c', '1', '3']);
    } catch (error) {
      console.log(`skipped: cannot create a device node here (needs root): ${(error as Error).message.split('\n')[0]}`);
      ctx.skip();
    }
    await writeAtomically(device, 'discarded', '--output');
    expect((await lstat(device)).isCharacterDevice()).toBe(true);
    expect(await readdir(dir)).toEqual(['null']);
  });

  it('writes /dev/null directly: it stays a character device', async (ctx) => {
    if (!(await stat('/dev/null').catch(() => null))?.isCharacterDevice()) {
      console.log('skipped: no /dev/null character device on this system');
      ctx.skip();
    }
    try {
      await writeAtomically('/dev/null', 'discarded', '--output');
      expect((await lstat('/dev/null')).isCharacterDevice()).toBe(true);
    } finally {
      // A regression must not leave the machine without /dev/null.
      if (!(await lstat('/dev/null')).isCharacterDevice()) {
        await rm('/dev/null', { force: true });
        execFileSync('mknod', ['-m', '666', '/dev/null', 'c', '1', '3']);
      }
    }
  });

  it('writes /dev/stdout-like paths (/proc/self/fd/N) into the file open on the descriptor, not a new one', async (ctx) => {
    const file = path.join(dir, 'redirected.txt');
    await writeFile(file, 'old content, longer than the new');
    const handle = await open(file, 'r+');
    try {
      const via = `/proc/self/fd/${handle.fd}`;
      if (!existsSync(via)) {
        console.log('skipped: no /proc/self/fd on this system');
        ctx.skip();
      }
      const before = (await stat(file)).ino;
      await writeAtomically(via, 'report', '--output');
      expect((await stat(file)).ino).toBe(before);
      expect(await readFile(file, 'utf8')).toBe('report');
      expect(await readdir(dir)).toEqual(['redirected.txt']);
    } finally {
      await handle.close();
    }
  });

  it('writes a writable file in a directory where no file can be created beside it, in place', async () => {
    const file = path.join(dir, 'r.json');
    await writeFile(file, 'old');
    await chmod(file, 0o644);
    await chmod(dir, 0o555);
    if (isRoot) {
      console.log('as root, a 0555 directory still accepts new files: simulating the refusal of the temporary file');
      injected.failPartials = true;
    }
    await writeAtomically(file, 'new', '--output');
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['r.json']);
  });

  it('does not write in place over a file that does not exist yet (nothing to keep): it fails naming the flag', async () => {
    injected.failPartials = true;
    const file = path.join(dir, 'new.json');
    const error = await writeAtomically(file, 'new', '--output').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--output: cannot write ${file}: permission denied`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses a directory, naming the flag, and leaves it alone', async () => {
    const error = await writeAtomically(dir, 'x', '--output').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`--output: cannot write ${dir}: is a directory`);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('outputProblem', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-outcheck-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a new file in an existing directory, an existing file, a symlink, a dangling symlink and /dev/null', async () => {
    await writeFile(path.join(dir, 'old.json'), 'x');
    await symlink('old.json', path.join(dir, 'link.json'));
    await symlink('new.json', path.join(dir, 'dangling.json'));
    for (const file of ['r.json', 'old.json', 'link.json', 'dangling.json'])
      expect(await outputProblem(path.join(dir, file), '--output')).toBeUndefined();
    if (existsSync('/dev/null')) expect(await outputProblem('/dev/null', '--output')).toBeUndefined();
  });

  it('names the flag and the path: missing directory, a file as directory, a directory as file', async () => {
    await writeFile(path.join(dir, 'file'), 'x');
    const missing = path.join(dir, 'nope', 'r.json');
    expect(await outputProblem(missing, '--output')).toBe(
      `--output: cannot write ${missing}: directory ${path.join(dir, 'nope')} does not exist`,
    );
    const underFile = path.join(dir, 'file', 'r.json');
    expect(await outputProblem(underFile, '--output')).toBe(
      `--output: cannot write ${underFile}: ${path.join(dir, 'file')} is not a directory`,
    );
    expect(await outputProblem(dir, '--baseline')).toBe(`--baseline: cannot write ${dir}: is a directory`);
    const dangling = path.join(dir, 'dangling.json');
    await symlink(path.join(dir, 'gone', 'r.json'), dangling);
    expect(await outputProblem(dangling, '--output')).toBe(
      `--output: cannot write ${dangling}: directory ${path.join(dir, 'gone')} does not exist`,
    );
  });

  it('finds an unwritable directory (when not root; root writes anywhere)', async (ctx) => {
    if (isRoot) {
      console.log('skipped: root may create files in a 0555 directory, so it is writable');
      ctx.skip();
    }
    await chmod(dir, 0o555);
    try {
      expect(await outputProblem(path.join(dir, 'r.json'), '--output')).toBe(
        `--output: cannot write ${path.join(dir, 'r.json')}: directory ${dir} is not writable`,
      );
    } finally {
      await chmod(dir, 0o755);
    }
  });
});
