/**
 * Opens the database a command measures: the embedded PGlite (seeded on first use, cached) or
 * a real PostgreSQL given by URL, which is only ever read.
 */
import { initFingerprinting } from '../core/analysis/fingerprint.js';
import { UsageError, maskUrl } from '../core/errors.js';
import { DEFAULT_STATEMENT_TIMEOUT_MS, openSession, type ProfilingSession, type SessionOptions } from '../core/session.js';
import type { DatabaseInfo } from '../report/model.js';
import { loadFixtures, type ConversationFixture } from './fixtures.js';
import { startEmbedded, startEmbeddedEmpty, type EmbeddedEvent, type EmbeddedServer } from './embedded-server.js';
import { runSetupFile } from './setup-file.js';
import { resolveScale } from './seed/scales.js';

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions extends SessionOptions {
  /** Skip the check that a --db database holds the reference dataset (for other schemas). */
  anySchema?: boolean;
  /**
   * Embedded only: instead of the reference dataset, a fresh empty database prepared by this
   * file (`.sql` script, or a `.ts`/`.js` module exporting `async (knex) => …`).
   */
  setup?: string;
  /** A postgres:// URL; absent for the embedded database. */
  url?: string;
  /** Embedded only: scale preset or multiplier (default `default`). */
  scale?: string;
  /** Embedded only: PRNG seed (default 1). */
  seed?: number;
  /** Conversation fixtures (default: the shipped ones). */
  fixtures?: ConversationFixture[];
  cacheDir?: string;
  onEvent?: (event: EmbeddedEvent) => void;
}

/** An open database with one instrumented session on it. */
export interface OpenDatabase {
  session: ProfilingSession;
  /** The URL the session connected to (with its password: never print it; use info.url). */
  connectUrl: string;
  info: DatabaseInfo;
  dataset: { scale: string; seed: number } | null;
  fixtures: ConversationFixture[];
  close(): Promise<void>;
}

export { DEFAULT_SCALE, DEFAULT_SEED } from './defaults.js';
import { DEFAULT_SCALE, DEFAULT_SEED } from './defaults.js';

/**
 * @example
 * const db = await openDatabase({ scale: 'tiny' });
 * try { ... db.session ... } finally { await db.close(); }
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<OpenDatabase> {
  // The SQL parser (WASM) loads while the database starts: the embedded one on its own thread.
  void initFingerprinting();
  const fixtures = options.fixtures ?? (await loadFixtures());
  if (options.url !== undefined && options.setup !== undefined) {
    throw new UsageError('--setup: only for the embedded database; ctxbench never writes to a --db database it profiles');
  }
  if (options.url !== undefined) {
    const session = await openSession(options.url, options);
    try {
      if (!options.anySchema) await assertDataset(session, options.url);
    } catch (error) {
      await session.close();
      throw error;
    }
    return {
      session,
      connectUrl: options.url,
      info: { kind: 'postgres', serverVersion: session.serverVersion, url: maskUrl(options.url) },
      dataset: null,
      fixtures,
      close: () => session.close(),
    };
  }
  if (options.setup !== undefined) {
    const setup = options.setup;
    const server = await startEmbeddedEmpty((url) => runSetupFile(setup, url));
    return onEmbedded(server, options, fixtures, null);
  }
  const scale = resolveScale(options.scale ?? DEFAULT_SCALE);
  const seed = options.seed ?? DEFAULT_SEED;
  const server = await startEmbedded({ scale, seed, fixtures, cacheDir: options.cacheDir, onEvent: options.onEvent });
  return onEmbedded(server, options, fixtures, { scale: scale.name, seed });
}

/** A session on a started embedded server; closing it stops the server too. */
async function onEmbedded(
  server: EmbeddedServer,
  options: SessionOptions,
  fixtures: ConversationFixture[],
  dataset: OpenDatabase['dataset'],
): Promise<OpenDatabase> {
  let session: ProfilingSession;
  // PGlite enforces no statement timeout (no timers inside a statement): the server does it.
  server.limitStatements(options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS);
  try {
    session = await openSession(server.url, { ...options, uncancellable: server });
  } catch (error) {
    await server.close();
    throw error;
  }
  return {
    session,
    connectUrl: server.url,
    info: { kind: 'pglite', serverVersion: session.serverVersion, url: null },
    dataset,
    fixtures,
    async close() {
      await session.close();
      await server.close();
    },
  };
}

async function assertDataset(session: ProfilingSession, url: string): Promise<void> {
  const result = await session.control.raw(`select to_regclass('messages') is not null as seeded`);
  if (!result.rows[0]?.seeded) {
    throw new UsageError(
      `${maskUrl(url)} has no ctxbench dataset (no "messages" table): seed it first with "ctxbench seed --db <url>", or point --db at a seeded database`,
    );
  }
}
