/**
 * The one way ctxbench reads a user's text file (fixtures, turns, budgets, baselines, saved
 * reports, setup SQL): strictly as UTF-8, so a file in another encoding is rejected with the
 * byte to look at rather than read with U+FFFD replacing what it could not decode.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.js';

const strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads `file` as UTF-8 text. A missing or unreadable file, and bytes that are not UTF-8, are
 * usage errors (exit 2) naming `what` (the flag or role) and the file; a leading BOM is dropped.
 *
 * @example
 * const text = await readTextFile('ctxbench.budget.json', '--budget');
 */
export async function readTextFile(file: string, what: string, missingHint = ''): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? `no such file${missingHint}` : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new UsageError(`${what}: cannot read ${file}: ${why}`, { cause: error });
  }
  return decodeUtf8(bytes, file);
}

/**
 * Decodes bytes as UTF-8 or throws a usage error naming the file and the first bad byte.
 *
 * @example
 * decodeUtf8(Buffer.from([0x61, 0xff]), 'x.json') // throws "x.json: not UTF-8 text: invalid byte 0xff at byte offset 1"
 */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return strict.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const byte = bytes[at] ?? 0;
    throw new UsageError(
      `${file}: not UTF-8 text: invalid byte 0x${byte.toString(16).padStart(2, '0')} at byte offset ${at} (save the file as UTF-8)`,
    );
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence (WHATWG rules). */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return bytes.length;
}
