/**
 * The embedded database: PGlite (PostgreSQL compiled to WASM) in this process, served on a
 * loopback port by pglite-socket, so ctxbench talks to it through pg exactly as it talks to a
 * real server — the same code path and the same byte accounting.
 *
 * Seeding costs seconds, so the seeded data directory is cached as one tarball, keyed by
 * everything that determines its bytes (PGlite version, schema version, generator code, scale,
 * seed, fixtures). Each run loads it into a private in-memory database: concurrent runs never
 * share a data directory, and the cache is only ever written by an atomic rename.
 *
 * The cache is never trusted blindly: a truncated or damaged tarball would make PGlite fail, or
 * print an error and hang. The tarball ends with its own SHA-256 (a trailer written in the same
 * rename), checked on every load; a file that fails the check is reported and seeded again. A
 * cache that cannot be written only costs the next run its seeding.
 */
import { quietKnexOn } from './knex-quiet.js';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { ConversationFixture } from './fixtures.js';
import { SCHEMA_VERSION } from './migrate.js';
import { seedEmbedded } from './dataset.js';
import type { ScaleSpec } from './seed/scales.js';

/** What a caller learns while the embedded database starts (for a progress line or bar). */
export type EmbeddedEvent =
  | { kind: 'cache-hit'; dir: string }
  /** The cached tarball `file` failed its check (`reason`): it is seeded again and replaced. */
  | { kind: 'cache-invalid'; file: string; reason: string }
  /** The cache directory cannot be written (`reason`): this run goes on uncached. */
  | { kind: 'cache-unwritable'; dir: string; reason: string }
  | { kind: 'seeding'; scale: string; seed: number }
  | { kind: 'seed-progress'; table: string; done: number; total: number }
  | { kind: 'seeded'; rows: number; ms: number };

/** Options of {@link startEmbedded}. */
export interface EmbeddedOptions {
  scale: ScaleSpec;
  seed: number;
  fixtures: ConversationFixture[];
  /** Where seeded data directories are cached (default: $CTXBENCH_CACHE_DIR, else ~/.cache/ctxbench). */
  cacheDir?: string;
  /** Seed again and replace the cached tarball even if it is valid. */
  force?: boolean;
  onEvent?: (event: EmbeddedEvent) => void;
}

/** A running embedded server. */
export interface EmbeddedServer {
  /** A postgres:// URL on 127.0.0.1 (no password). */
  readonly url: string;
  /** Whether this start seeded the data (a cache miss). */
  readonly seededNow: boolean;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** Default cache root: $CTXBENCH_CACHE_DIR, else $XDG_CACHE_HOME/ctxbench, else ~/.cache/ctxbench. */
export function defaultCacheDir(): string {
  if (process.env.CTXBENCH_CACHE_DIR) return path.resolve(process.env.CTXBENCH_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'ctxbench');
}

/** PGlite's version: its data directory format is tied to it. */
function pgliteVersion(): string {
  // The package's exports map hides package.json: walk up from its entry point instead.
  let dir = path.dirname(require.resolve('@electric-sql/pglite'));
  for (;;) {
    const candidate = path.join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@electric-sql/pglite') return String(pkg.version);
    }
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

/**
 * A hash of the code that decides the seeded bytes (migrations, generator, loader), so a
 * changed generator can never be served a stale cache, even if SCHEMA_VERSION was not bumped.
 */
async function datasetCodeHash(): Promise<string> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256');
  const files: string[] = [];
  for (const dir of ['seed', 'migrations']) {
    for (const name of await readdir(path.join(here, dir)).catch(() => [] as string[])) files.push(path.join(dir, name));
  }
  for (const name of await readdir(here)) if (/^(dataset|migrate)\.[cm]?[jt]s$/.test(name)) files.push(name);
  for (const file of files.filter((f) => /\.[cm]?[jt]s$/.test(f) && !f.endsWith('.d.ts')).sort()) {
    hash.update(file).update(await readFile(path.join(here, file)));
  }
  return hash.digest('hex').slice(0, 12);
}

/** The cache key: every input that changes the seeded bytes. */
export async function embeddedCacheKey(options: Pick<EmbeddedOptions, 'scale' | 'seed' | 'fixtures'>): Promise<string> {
  // Without `file`: where the fixtures were read from does not change the data.
  const content = options.fixtures.map(({ file: _file, ...fixture }) => fixture);
  const fixtures = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 12);
  const safeScale = options.scale.name.replace(/[^\w.-]/g, '_');
  return `pglite-${pgliteVersion()}-cache${CACHE_FORMAT}-schema${SCHEMA_VERSION}-${safeScale}-seed${options.seed}-fx${fixtures}-code${await datasetCodeHash()}`;
}

/**
 * The cache file's format: 2 is the tarball followed by its checksum trailer. In the key, so a
 * version that writes plain tarballs and this one never read each other's files.
 */
const CACHE_FORMAT = 2;
const TRAILER_PREFIX = '\nctxbench-sha256:';
/** The trailer: prefix, 64 hex digits, newline. */
const TRAILER_LENGTH = TRAILER_PREFIX.length + 64 + 1;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The tarball as the cache stores it: its bytes, then its SHA-256. */
function withTrailer(tarball: Uint8Array): Buffer[] {
  return [Buffer.from(tarball.buffer, tarball.byteOffset, tarball.byteLength), Buffer.from(`${TRAILER_PREFIX}${sha256(tarball)}\n`)];
}

/**
 * The tarball inside a cache file, or why the file cannot be trusted.
 *
 * @example
 * const checked = verifyCacheFile(await readFile(cached));
 * if ('problem' in checked) console.error(`${cached}: ${checked.problem}`);
 */
export function verifyCacheFile(bytes: Buffer): { tarball: Buffer } | { problem: string } {
  const trailer = bytes.length >= TRAILER_LENGTH ? bytes.subarray(bytes.length - TRAILER_LENGTH).toString('latin1') : '';
  const match = /^\nctxbench-sha256:([0-9a-f]{64})\n$/.exec(trailer);
  if (!match) return { problem: 'no checksum at its end: truncated, or not written by ctxbench' };
  const tarball = bytes.subarray(0, bytes.length - TRAILER_LENGTH);
  if (sha256(tarball) !== match[1]) return { problem: 'its checksum does not match: the file is damaged' };
  return { tarball };
}

function reasonOf(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}: ${e.message.replace(/^\w+: /, '')}` : String(e.message ?? e);
}

/** A temporary file older than this is an abandoned one, whoever wrote it. */
const PARTIAL_STALE_MS = 10 * 60 * 1000;

/** This host, as a file name part (partials name their writer: host and pid). */
function hostTag(): string {
  return os.hostname().replace(/[^\w-]/g, '_') || 'host';
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it just is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `.partial` files that interrupted runs left in the cache. Only abandoned ones: a
 * concurrent run may be writing its own right now, so a partial goes when its writer (a process
 * on this host) is dead, or when it has not been written to for ten minutes.
 *
 * @example
 * await removeStalePartials(defaultCacheDir());
 */
export async function removeStalePartials(cacheRoot: string): Promise<void> {
  const host = hostTag();
  for (const name of await readdir(cacheRoot).catch(() => [] as string[])) {
    if (!name.startsWith('pglite-') || !name.endsWith('.partial')) continue;
    const file = path.join(cacheRoot, name);
    const modified = await stat(file).then(
      (s) => s.mtimeMs,
      () => null,
    );
    if (modified === null) continue;
    const writer = /\.([\w-]+)\.(\d+)\.[0-9a-f]+\.partial$/.exec(name);
    const abandoned =
      Date.now() - modified > PARTIAL_STALE_MS || (writer !== null && writer[1] === host && !processAlive(Number(writer[2])));
    if (abandoned) await rm(file, { force: true }).catch(() => undefined);
  }
}

/** The cached tarball, or null on a miss; a file that fails its check is reported as one. */
async function loadCache(cached: string, onEvent: EmbeddedOptions['onEvent']): Promise<Blob | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(cached);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') onEvent?.({ kind: 'cache-invalid', file: cached, reason: `cannot read it (${reasonOf(error)})` });
    return null;
  }
  const verified = verifyCacheFile(bytes);
  if ('problem' in verified) {
    onEvent?.({ kind: 'cache-invalid', file: cached, reason: verified.problem });
    return null;
  }
  onEvent?.({ kind: 'cache-hit', dir: cached });
  // Its modification time is its last use (see pruneStale); a read-only cache is still usable.
  const now = new Date();
  await utimes(cached, now, now).catch(() => undefined);
  return new Blob([verified.tarball]);
}

/**
 * Writes the tarball and its checksum aside, then renames them over the cache file in one step:
 * a reader never sees half a file, and concurrent runs that seed the same key each rename a
 * complete copy over the other. A cache that cannot be written is reported, not fatal.
 */
async function storeCache(cacheRoot: string, cached: string, tarball: Blob, options: EmbeddedOptions): Promise<void> {
  const partial = `${cached}.${hostTag()}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await mkdir(cacheRoot, { recursive: true });
    await writeFile(partial, withTrailer(new Uint8Array(await tarball.arrayBuffer())));
    await rename(partial, cached);
  } catch (error) {
    await rm(partial, { force: true }).catch(() => undefined);
    options.onEvent?.({ kind: 'cache-unwritable', dir: cacheRoot, reason: reasonOf(error) });
    return;
  }
  await pruneStale(cacheRoot, path.basename(cached), options).catch(() => undefined);
}

/** How long a cached tarball of another code version is kept after its last use. */
const STALE_AFTER_MS = 7 * 24 * 3600 * 1000;

/**
 * Removes cached tarballs of the same scale and seed made by other versions of the code and
 * not used for a week. Not at once: two installs side by side (the sources under a test runner
 * and the built bin hash differently) would otherwise evict each other's cache on every run.
 */
export async function pruneStale(
  cacheRoot: string,
  keep: string,
  options: Pick<EmbeddedOptions, 'scale' | 'seed'>,
): Promise<void> {
  const marker = `-${options.scale.name.replace(/[^\w.-]/g, '_')}-seed${options.seed}-`;
  const before = Date.now() - STALE_AFTER_MS;
  for (const name of await readdir(cacheRoot).catch(() => [] as string[])) {
    if (name !== keep && name.startsWith('pglite-') && name.endsWith('.tar') && name.includes(marker)) {
      const file = path.join(cacheRoot, name);
      const used = await stat(file).then(
        (s) => s.mtimeMs,
        () => 0,
      );
      if (used < before) await rm(file, { force: true });
    }
  }
}

/** Serves `db` on an ephemeral loopback port. */
async function serve(db: PGlite): Promise<{ url: string; stop: () => Promise<void> }> {
  // Two: ctxbench's own session, and one more through the --rtt delay proxy. PGlite still
  // runs one statement at a time; the second connection only waits while the first is idle.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 2 });
  await server.start();
  return { url: `postgres://postgres@${server.getServerConn()}/postgres`, stop: () => server.stop() };
}

/** Seeds a new in-memory database and returns its data directory as an uncompressed tarball. */
async function seedToTarball(options: EmbeddedOptions): Promise<Blob> {
  const db = await PGlite.create();
  try {
    const { url, stop } = await serve(db);
    const knex = quietKnexOn(url);
    try {
      options.onEvent?.({ kind: 'seeding', scale: options.scale.name, seed: options.seed });
      const summary = await seedEmbedded(db, knex, {
        scale: options.scale,
        seed: options.seed,
        fixtures: options.fixtures,
        onProgress: (p) => options.onEvent?.({ kind: 'seed-progress', ...p }),
      });
      const rows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
      options.onEvent?.({ kind: 'seeded', rows, ms: summary.elapsedMs });
    } finally {
      await knex.destroy();
      await stop();
    }
    // Uncompressed: loading it is what every later run pays (≈0.7 s for the default scale).
    return await db.dumpDataDir('none');
  } finally {
    await db.close();
  }
}

/**
 * Starts the embedded database, seeding it on first use.
 *
 * @example
 * const server = await startEmbedded({ scale: resolveScale('tiny'), seed: 1, fixtures: await loadFixtures() });
 * // ... connect pg/knex to server.url ...
 * await server.close();
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const cacheRoot = options.cacheDir ?? defaultCacheDir();
  const cached = path.join(cacheRoot, `${await embeddedCacheKey(options)}.tar`);
  await removeStalePartials(cacheRoot);
  // In memory: nothing to clean up, and no two runs ever share a data directory.
  let db: PGlite | null = null;
  const fromCache = options.force ? null : await loadCache(cached, options.onEvent);
  if (fromCache !== null) {
    try {
      db = await PGlite.create({ loadDataDir: fromCache });
    } catch (error) {
      // Its checksum held, yet PGlite cannot load it (written by a broken build?): seed again.
      options.onEvent?.({ kind: 'cache-invalid', file: cached, reason: `PGlite cannot load it (${reasonOf(error)})` });
    }
  }
  const seededNow = db === null;
  if (db === null) {
    const dataDir = await seedToTarball(options);
    await storeCache(cacheRoot, cached, dataDir, options);
    db = await PGlite.create({ loadDataDir: dataDir });
  }
  const running = db;
  let server: Awaited<ReturnType<typeof serve>>;
  try {
    server = await serve(db);
  } catch (error) {
    await running.close();
    throw error;
  }
  let closed = false;
  return {
    url: server.url,
    seededNow,
    async close() {
      if (closed) return;
      closed = true;
      await server.stop();
      await running.close();
    },
  };
}

/**
 * Starts an empty embedded database (no reference dataset) and runs `setup` on it through
 * pg, e.g. a user's own schema and rows. Never cached: it is rebuilt every run.
 *
 * @example
 * const server = await startEmbeddedEmpty(async (url) => { ... create tables ... });
 */
export async function startEmbeddedEmpty(setup: (url: string) => Promise<void>): Promise<EmbeddedServer> {
  const db = await PGlite.create();
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    server = await serve(db);
    await setup(server.url);
  } catch (error) {
    await server?.stop().catch(() => undefined);
    await db.close();
    throw error;
  }
  const running = server;
  let closed = false;
  return {
    url: running.url,
    seededNow: true,
    async close() {
      if (closed) return;
      closed = true;
      await running.stop();
      await db.close();
    },
  };
}
