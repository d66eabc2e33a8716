/**
 * The embedded database's cache file: a PGlite data directory tarball followed by its own
 * SHA-256, so a truncated or damaged file is recognised before PGlite is given it (PGlite would
 * fail, or print an error and hang).
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * The cache file's format: 2 is the tarball followed by its checksum trailer. In the key, so a
 * version that writes plain tarballs and this one never read each other's files.
 */
export const CACHE_FORMAT = 2;
const TRAILER_PREFIX = '\nctxbench-sha256:';
/** The trailer: prefix, 64 hex digits, newline. */
const TRAILER_LENGTH = TRAILER_PREFIX.length + 64 + 1;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The tarball as the cache stores it: its bytes, then its SHA-256. */
export function withTrailer(tarball: Uint8Array): Buffer[] {
  return [Buffer.from(tarball.buffer, tarball.byteOffset, tarball.byteLength), Buffer.from(`${TRAILER_PREFIX}${sha256(tarball)}\n`)];
}

/**
 * The tarball inside a cache file, read whole into an array of its own (exactly the tarball's
 * bytes, so a loader can use it without copying it), or why the file cannot be trusted. The file
 * is opened once: a concurrent run that renames a fresh copy over it changes nothing here.
 * Throws as `fs` does when it cannot be opened.
 *
 * @example
 * const checked = await readCacheFile(cached);
 * if ('problem' in checked) console.error(`${cached}: ${checked.problem}`);
 */
export async function readCacheFile(file: string): Promise<{ tarball: Uint8Array } | { problem: string }> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const trailer = Buffer.alloc(Math.min(size, TRAILER_LENGTH));
    await readFully(handle, trailer, size - trailer.length);
    const match = /^\nctxbench-sha256:([0-9a-f]{64})\n$/.exec(trailer.toString('latin1'));
    if (!match) return { problem: 'no checksum at its end: truncated, or not written by ctxbench' };
    const tarball = new Uint8Array(size - TRAILER_LENGTH);
    await readFully(handle, tarball, 0);
    if (sha256(tarball) !== match[1]) return { problem: 'its checksum does not match: the file is damaged' };
    return { tarball };
  } finally {
    await handle.close();
  }
}

/** Fills `into` from `handle` at `position` (one read may return less than asked). */
async function readFully(handle: FileHandle, into: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`the file ended ${into.length - done} bytes early (it changed while read)`);
    done += bytesRead;
  }
}

/**
 * An error of the cache's file or its loading as one line: `ENOENT: no such file …` keeps its
 * errno code first, without Node's repetition of it.
 *
 * @example
 * reasonOf(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })) // 'ENOENT: no such file'
 */
export function reasonOf(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message.replace(/^\w+: /, '')}` : String(e.message ?? e);
}
