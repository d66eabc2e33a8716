/**
 * `seed`: write the reference dataset into a real PostgreSQL (explicitly, never implicitly),
 * or prepare the embedded database's cache.
 */
import { quietKnexLog } from '../db/knex-quiet.js';
import knexFactory from 'knex';
import { maskUrl } from '../core/errors.js';
import { connectionError } from '../core/session.js';
import { seedServer, type SeedSummary } from '../db/dataset.js';
import { startEmbedded, type EmbeddedEvent } from '../db/embedded-server.js';
import { loadFixtures, type ConversationFixture } from '../db/fixtures.js';
import { DEFAULT_SCALE, DEFAULT_SEED } from '../db/open-database.js';
import { resolveScale } from '../db/seed/scales.js';

/** Options of {@link seed}. */
export interface SeedCommandOptions {
  /** A postgres:// URL to seed; absent to prepare the embedded database's cache. */
  url?: string;
  scale?: string;
  seed?: number;
  /** Drop and re-create the ctxbench tables of a non-empty database; embedded: seed again and replace the cache. */
  force?: boolean;
  fixtures?: ConversationFixture[];
  cacheDir?: string;
  onProgress?: (progress: { table: string; done: number; total: number }) => void;
  onEvent?: (event: EmbeddedEvent) => void;
}

/** What was seeded. */
export interface SeedResult {
  target: string;
  scale: string;
  seed: number;
  /** Row counts per table; null when the embedded cache already held this dataset. */
  rows: Record<string, number> | null;
  elapsedMs: number;
}

/**
 * @example
 * await seed({ url: 'postgres://postgres@127.0.0.1:5432/ctxbench', scale: 'default' });
 */
export async function seed(options: SeedCommandOptions): Promise<SeedResult> {
  const scale = resolveScale(options.scale ?? DEFAULT_SCALE);
  const seedValue = options.seed ?? DEFAULT_SEED;
  const fixtures = options.fixtures ?? (await loadFixtures());
  const started = performance.now();
  if (options.url === undefined) {
    let rows: Record<string, number> | null = null;
    const server = await startEmbedded({
      scale,
      seed: seedValue,
      fixtures,
      cacheDir: options.cacheDir,
      force: options.force,
      onEvent: (event) => {
        if (event.kind === 'seed-progress') options.onProgress?.(event);
        options.onEvent?.(event);
      },
    });
    if (server.seededNow) rows = {};
    await server.close();
    return { target: 'embedded', scale: scale.name, seed: seedValue, rows, elapsedMs: performance.now() - started };
  }
  const knex = knexFactory({
    log: quietKnexLog,
    client: 'pg',
    connection: { connectionString: options.url, connectionTimeoutMillis: 10_000, application_name: 'ctxbench' },
    pool: { min: 0, max: 1 },
    acquireConnectionTimeout: 10_000,
  });
  try {
    try {
      await knex.raw('select 1');
    } catch (error) {
      throw connectionError(options.url, error);
    }
    const summary: SeedSummary = await seedServer(knex, {
      scale,
      seed: seedValue,
      fixtures,
      force: options.force ?? false,
      onProgress: options.onProgress,
    });
    return { target: maskUrl(options.url), scale: scale.name, seed: seedValue, rows: summary.rows, elapsedMs: summary.elapsedMs };
  } finally {
    await knex.destroy();
  }
}
