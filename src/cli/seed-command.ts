/**
 * `ctxbench seed` — seed a real PostgreSQL explicitly, or warm the embedded cache.
 */
import type { Command } from 'commander';
import { DEFAULT_SCALE, DEFAULT_SEED } from '../db/defaults.js';
import type { CliIo } from './io.js';
import { Problems, checkScale, databaseUrl, parseWholeNumber } from './options.js';
import { createProgress } from './progress.js';

interface SeedFlags {
  db?: string;
  scale?: string;
  seed?: string;
  force?: boolean;
}

export function registerSeed(program: Command, io: CliIo): void {
  program
    .command('seed')
    .description('write the reference dataset into a PostgreSQL database (--db), or prepare the embedded one')
    .option('--db <url>', 'PostgreSQL URL to seed (default: $DATABASE_URL, else the embedded database cache)')
    .option('--scale <scale>', `tiny, default, large, or a multiplier of default (default: ${DEFAULT_SCALE})`)
    .option('--seed <n>', `PRNG seed (default: ${DEFAULT_SEED})`)
    .option('--force', 'drop and re-create the ctxbench tables of a non-empty database')
    .action(async (flags: SeedFlags) => {
      // Loaded on use: the database stack is heavy, and --help should be instant.
      const { seed } = await import('../commands/seed.js');
      const problems = new Problems();
      const url = databaseUrl(problems, flags.db, io);
      const seedValue = parseWholeNumber(problems, '--seed', flags.seed, 0);
      checkScale(problems, flags.scale);
      problems.done();
      const progress = createProgress(io);
      let result;
      try {
        result = await seed({
          url,
          scale: flags.scale,
          seed: seedValue,
          force: flags.force,
          onProgress: (p) => progress.onSeed(p),
          cacheDir: io.env.CTXBENCH_CACHE_DIR || undefined,
          onEvent: (e) => (e.kind === 'seed-progress' ? undefined : progress.onEvent(e)),
        });
      } finally {
        progress.stop();
      }
      const seconds = (result.elapsedMs / 1000).toFixed(1);
      if (result.rows === null) {
        io.stdout(`embedded database for scale ${result.scale}, seed ${result.seed} is already cached\n`);
      } else if (result.target === 'embedded') {
        io.stdout(`seeded the embedded database (scale ${result.scale}, seed ${result.seed}) in ${seconds} s\n`);
      } else {
        const total = Object.values(result.rows).reduce((a, b) => a + b, 0);
        io.stdout(
          `seeded ${result.target}: scale ${result.scale}, seed ${result.seed}, ${total.toLocaleString('en-US')} rows in ${seconds} s\n`,
        );
        for (const [table, rows] of Object.entries(result.rows))
          io.stdout(`  ${table.padEnd(16)} ${rows.toLocaleString('en-US').padStart(12)}\n`);
      }
    });
}
