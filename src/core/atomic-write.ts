/**
 * Writing a report or baseline whole: aside, then renamed over the target, so a reader (or a
 * CI step) never sees half a file, and a failed write leaves the old one in place.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { UsageError } from './errors.js';

/**
 * Writes `text` to `file` atomically; a failure is a usage error naming the file (exit 2),
 * prefixed with `flag` when the file came from one.
 *
 * @example
 * await writeAtomically('ctxbench.baseline.json', text);
 * await writeAtomically(flags.output, text, '--output');
 */
export async function writeAtomically(file: string, text: string, flag?: string): Promise<void> {
  const partial = `${file}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await writeFile(partial, text);
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw new UsageError(`${flag ? `${flag}: ` : ''}cannot write ${file}: ${(error as Error).message}`);
  }
}
