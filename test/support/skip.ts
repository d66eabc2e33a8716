/**
 * Visible skips: a test that cannot do its real check says what it needs, once per reason,
 * and is reported as skipped — it never returns early and passes.
 */
import { describe, it } from 'vitest';

/** Why the real-server suites skip when no server is named. */
export const NEEDS_SERVER = 'needs a real PostgreSQL: set CTXBENCH_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)';

/** The server named for tests, if any. */
export const testServerUrl: string | undefined = process.env.CTXBENCH_TEST_DATABASE_URL || undefined;

const said = new Set<string>();

/** Prints `skipped: <reason>` once per reason (per test file). */
export function sayWhySkipped(reason: string): void {
  if (said.has(reason)) return;
  said.add(reason);
  console.log(`skipped: ${reason}`);
}

/** `describe` when `condition` holds; otherwise `describe.skip`, after printing why. */
export function describeIf(condition: unknown, reason: string): typeof describe | typeof describe.skip {
  if (condition) return describe;
  sayWhySkipped(reason);
  return describe.skip;
}

/** `it` when `condition` holds; otherwise `it.skip`, after printing why. */
export function itIf(condition: unknown, reason: string): typeof it | typeof it.skip {
  if (condition) return it;
  sayWhySkipped(reason);
  return it.skip;
}

/** Skips a whole describe block, printing why: `skipWithReason('needs socat')('…', () => …)`. */
export function skipWithReason(reason: string): typeof describe.skip {
  sayWhySkipped(reason);
  return describe.skip;
}
