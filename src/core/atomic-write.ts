/**
 * Writing a report or baseline whole: aside, then renamed over the target, so a reader (or a
 * CI step) never sees half a file, and a failed write leaves the old one in place.
 *
 * The path is the user's, and so is what it points to: a symlink is written through (it stays
 * a symlink), a FIFO or a device such as /dev/null or /dev/stdout is written directly (renaming
 * over it would replace it with a plain file), and a replaced file keeps its mode.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, chown, lstat, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors.js';

/** Symlinks followed at most (as the kernel's ELOOP limit). */
const MAX_LINKS = 40;

/** Whether an error says the path does not exist (also when a parent is a file). */
function missing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function statOrNull(file: string): Promise<Stats | null> {
  try {
    return await stat(file);
  } catch (error) {
    if (missing(error)) return null;
    throw error;
  }
}

/**
 * Where writing `file` lands: the file itself, or the end of its chain of symlinks — which may
 * not exist yet (a dangling symlink creates its target).
 */
async function finalPath(file: string): Promise<string> {
  let current = path.resolve(file);
  for (let i = 0; i < MAX_LINKS; i += 1) {
    let info: Stats;
    try {
      info = await lstat(current);
    } catch (error) {
      if (missing(error)) return current;
      throw error;
    }
    if (!info.isSymbolicLink()) return current;
    current = path.resolve(path.dirname(current), await readlink(current));
  }
  throw Object.assign(new Error('too many levels of symbolic links'), { code: 'ELOOP' });
}

/**
 * Whether `file` reaches its target through a descriptor (/dev/stdout → /proc/self/fd/1, or
 * /dev/fd/N): the file open on that descriptor must get the text, not a new file renamed over
 * its name (the descriptor would still point at the old one).
 */
async function throughDescriptor(file: string): Promise<boolean> {
  let current = path.resolve(file);
  for (let i = 0; i < MAX_LINKS; i += 1) {
    if (/^\/(proc|dev\/fd)\//.test(current)) return true;
    const info = await lstat(current).catch(() => null);
    if (info === null || !info.isSymbolicLink()) return false;
    current = path.resolve(path.dirname(current), await readlink(current));
  }
  return false;
}

/** Whether creating a file beside the target failed for want of permission (not space, not a bug). */
function cannotCreateBeside(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    case 'ENOSPC':
      return 'no space left on device';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return e.message;
  }
}

/**
 * Why `file` cannot be written, checked before any work is done (so a run that takes minutes
 * does not fail at its last step); undefined when it can be. The message names `flag`.
 *
 * @example
 * const problem = await outputProblem(flags.output, '--output');
 * if (problem) problems.add(problem);
 */
export async function outputProblem(file: string, flag: string): Promise<string | undefined> {
  const cannot = (why: string): string => `${flag}: cannot write ${file}: ${why}`;
  if (file === '') return `${flag}: give a file name`;
  try {
    const info = await statOrNull(file);
    if (info !== null) {
      if (info.isDirectory()) return cannot('is a directory');
      await access(file, constants.W_OK);
      return undefined;
    }
    const target = await finalPath(file);
    const dir = path.dirname(target);
    const parent = await statOrNull(dir);
    if (parent === null) return cannot(`directory ${dir} does not exist`);
    if (!parent.isDirectory()) return cannot(`${dir} is not a directory`);
    try {
      await access(dir, constants.W_OK | constants.X_OK);
    } catch {
      return cannot(`directory ${dir} is not writable`);
    }
    return undefined;
  } catch (error) {
    return cannot(describe(error));
  }
}

/** Writes `text` beside `target`, then renames it over; keeps an existing file's mode (and owner, when allowed). */
async function replaceFile(target: string, text: string | AsyncIterable<string>, existing: Stats | null): Promise<void> {
  const partial = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(4).toString('hex')}.partial`);
  try {
    await writeFile(partial, text, { flag: 'wx', mode: existing ? existing.mode & 0o7777 : 0o666 });
  } catch (error) {
    await rm(partial, { force: true }).catch(() => undefined);
    // A writable file in a directory we cannot create files in: write it in place (pieces of
    // text are still unread: creating the partial file failed before any was written).
    if (existing !== null && cannotCreateBeside(error)) {
      await writeFile(target, text);
      return;
    }
    throw error;
  }
  try {
    if (existing !== null) {
      // The mode given to writeFile went through the umask: set it exactly.
      await chmod(partial, existing.mode & 0o7777);
      await chown(partial, existing.uid, existing.gid).catch(() => undefined);
    }
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * Writes `text` to `file` atomically — text given whole, or in pieces (a long report streamed
 * from disk, never whole in memory); a failure is a usage error naming the file (exit 2),
 * prefixed with `flag` when the file came from one. A symlink is written through to its target;
 * a FIFO or character device is written directly; a file in a directory where no file can be
 * created beside it is written in place.
 *
 * @example
 * await writeAtomically('ctxbench.baseline.json', text);
 * await writeAtomically(flags.output, text, '--output');
 */
export async function writeAtomically(file: string, text: string | AsyncIterable<string>, flag?: string): Promise<void> {
  try {
    const info = await statOrNull(file);
    if (info?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if ((info !== null && !info.isFile()) || (await throughDescriptor(file))) {
      // A FIFO, a device, /dev/stdout: there is nothing to replace, only something to write to.
      await writeFile(file, text);
      return;
    }
    const target = info !== null ? await realpath(file) : await finalPath(file);
    await replaceFile(target, text, info);
  } catch (error) {
    throw new UsageError(`${flag ? `${flag}: ` : ''}cannot write ${file}: ${describe(error)}`);
  }
}
