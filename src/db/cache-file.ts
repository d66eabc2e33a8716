/**
 * The embedded database's cache file: a PGlite data directory tarball followed by its own
 * SHA-256, so a truncated or damaged file is recognised before PGlite is given it (PGlite would
 * fail, or print an error and hang).
 */
import { createHash } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';

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
 * The tarball inside a cache file, as a Blob backed by the file (read when PGlite loads it, not
 * held here), or why the file cannot be trusted. Throws as `fs` does when it cannot be opened.
 *
 * @example
 * const checked = await checkCacheFile(cached);
 * if ('problem' in checked) console.error(`${cached}: ${checked.problem}`);
 */
export async function checkCacheFile(file: string): Promise<{ tarball: Blob } | { problem: string }> {
  // stat first: openAsBlob's error names no errno (ENOENT, ENOTDIR …), which callers tell apart.
  await stat(file);
  const whole = await openAsBlob(file);
  const trailer = whole.size >= TRAILER_LENGTH ? Buffer.from(await whole.slice(whole.size - TRAILER_LENGTH).arrayBuffer()).toString('latin1') : '';
  const match = /^\nctxbench-sha256:([0-9a-f]{64})\n$/.exec(trailer);
  if (!match) return { problem: 'no checksum at its end: truncated, or not written by ctxbench' };
  const tarball = whole.slice(0, whole.size - TRAILER_LENGTH);
  // Hashed as it streams: the file is never held whole here.
  const hash = createHash('sha256');
  for await (const chunk of tarball.stream()) hash.update(chunk);
  if (hash.digest('hex') !== match[1]) return { problem: 'its checksum does not match: the file is damaged' };
  return { tarball };
}
