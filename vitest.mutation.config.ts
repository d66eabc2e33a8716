import { defineConfig } from 'vitest/config';

/**
 * The tests `npm run mutate` runs against each mutant: the unit tests of the modules it
 * mutates, nothing that seeds or replays the reference dataset at length.
 * `CTXBENCH_MUTATION_TESTS=a.test.ts,b.test.ts` narrows them for a run on one module.
 */
const only = process.env.CTXBENCH_MUTATION_TESTS?.split(',').filter(Boolean);

export default defineConfig({
  test: {
    // The tracker's tests on a live PGlite session (test/wire/statement-tracker.test.ts) are left
    // out: they start a database for every mutant; test/unit/statement-tracker.test.ts drives the
    // tracker with hand-built messages instead.
    include: only ?? ['test/unit/*.test.ts', 'test/analysis/findings.test.ts'],
    // `CTXBENCH_MUTATION_TEST_NAMES=regex` keeps only the matching tests (e.g. the tracker's
    // synthetic-message tests, leaving out the ones that start a database).
    testNamePattern: process.env.CTXBENCH_MUTATION_TEST_NAMES || undefined,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
  },
});
