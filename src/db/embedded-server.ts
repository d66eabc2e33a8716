/**
 * The embedded database: PGlite (PostgreSQL compiled to WASM) in this process, served on a
 * loopback port by pglite-socket, so ctxbench talks to it through pg exactly as it talks to a
 * real server — the same code path and the same byte accounting.
 *
 * Seeding costs seconds, so the seeded data directory is cached as one tarball, keyed by
 * everything that determines its bytes (PGlite version, schema version, generator code, scale,
 * seed, fixtures). Each run loads it into a private in-memory database: concurrent runs never
 * share a data directory, and the cache is only ever written by an atomic rename. That database
 * runs on a thread of its own (embedded-worker.ts): a statement PGlite cannot cancel then blocks
 * only that thread, and ctxbench stops it by restarting the database.
 *
 * The cache is never trusted blindly: a truncated or damaged tarball would make PGlite fail, or
 * print an error and hang. The tarball ends with its own SHA-256 (a trailer written in the same
 * rename), checked on every load; a file that fails the check is reported and seeded again. A
 * cache that cannot be written only costs the next run its seeding.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rename, stat, utimes, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConversationFixture } from './fixtures.js';
import { SCHEMA_VERSION } from './migrate.js';
import type { ScaleSpec } from './seed/scales.js';
import { CACHE_FORMAT, reasonOf, withTrailer } from './cache-file.js';
import type { EmbeddedSource, EmbeddedWorkerData, EmbeddedWorkerEvent, EmbeddedWorkerReply } from './embedded-worker.js';

export { readCacheFile } from './cache-file.js';

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
  /**
   * Cache a data directory larger than this many bytes gzip-compressed (default
   * {@link COMPRESS_CACHE_ABOVE}): `large` is about 0.9 GB as a tarball, 6–7× less compressed,
   * while the smaller scales stay uncompressed, as every warm run loads them.
   */
  compressAbove?: number;
  onEvent?: (event: EmbeddedEvent) => void;
}

/** A running embedded server. */
export interface EmbeddedServer {
  /** A postgres:// URL on 127.0.0.1 (no password). */
  readonly url: string;
  /** Whether this start seeded the data (a cache miss). */
  readonly seededNow: boolean;
  /** How many overrunning statements were stopped (each by restarting the database). */
  readonly stops: number;
  /**
   * Stops the statement running now, if any: PGlite cannot cancel one, so its thread is
   * terminated and, with `restart`, started again from the same data on the same port
   * (connections are lost; new ones work once this resolves). Resolves true if one was stopped.
   */
  stopStatement(restart: boolean): Promise<boolean>;
  /**
   * Enforces a statement timeout PGlite cannot (it has no timers inside a statement): one
   * protocol exchange running past `ms` is stopped as by `stopStatement(true)`. 0 turns it off.
   */
  limitStatements(ms: number): void;
  /** Resolves once the server takes connections (at once, unless it is restarting). */
  ready(): Promise<void>;
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

/** Data directories larger than this (bytes) are cached gzip-compressed: see {@link EmbeddedOptions.compressAbove}. */
export const COMPRESS_CACHE_ABOVE = 256 * 1024 * 1024;

const gzipAsync = promisify(gzip);

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

/**
 * Writes the tarball and its checksum aside, then renames them over the cache file in one step:
 * a reader never sees half a file, and concurrent runs that seed the same key each rename a
 * complete copy over the other. A cache that cannot be written is reported, not fatal.
 */
async function storeCache(cacheRoot: string, cached: string, tarball: Uint8Array, options: EmbeddedOptions): Promise<boolean> {
  const partial = `${cached}.${hostTag()}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  try {
    await mkdir(cacheRoot, { recursive: true });
    // Level 1: most of the gain (text compresses well) for a fraction of the time, on libuv's threads.
    const stored = tarball.byteLength > (options.compressAbove ?? COMPRESS_CACHE_ABOVE) ? await gzipAsync(tarball, { level: 1 }) : tarball;
    await writeFile(partial, withTrailer(stored));
    await rename(partial, cached);
  } catch (error) {
    await rm(partial, { force: true }).catch(() => undefined);
    options.onEvent?.({ kind: 'cache-unwritable', dir: cacheRoot, reason: reasonOf(error) });
    return false;
  }
  await pruneStale(cacheRoot, path.basename(cached), options).catch(() => undefined);
  return true;
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

/** How the database's thread is started: the built file, or the TypeScript source through tsx. */
function spawnDatabaseThread(data: EmbeddedWorkerData): Worker {
  const built = new URL('./embedded-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return new Worker(built, { workerData: data });
  // Running from the sources (tests): the worker loads its TypeScript the way strategies do.
  const source = new URL('./embedded-worker.ts', import.meta.url).href;
  const api = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(source)}, ${JSON.stringify(source)}))`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

/** A running database thread. */
interface DatabaseThread {
  worker: Worker;
  url: string;
  busySince: Float64Array;
  /** The data directory it seeded, when it did. */
  tarball?: Uint8Array;
}

/** Starts a database thread and waits for its answer: running, or why the source is unusable. */
async function startThread(
  source: EmbeddedSource,
  port: number,
  onEvent?: EmbeddedOptions['onEvent'],
): Promise<DatabaseThread | Extract<EmbeddedWorkerReply, { kind: 'unusable' }>> {
  const busySince = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT);
  const worker = spawnDatabaseThread({ source, port, busySince });
  const reply = await new Promise<EmbeddedWorkerReply>((resolve) => {
    worker.on('message', (message: EmbeddedWorkerReply | EmbeddedWorkerEvent) => {
      if (message.kind === 'event') onEvent?.(message.event);
      else resolve(message);
    });
    worker.once('error', (error) => resolve({ kind: 'failed', message: reasonOf(error) }));
    worker.once('exit', (code) => resolve({ kind: 'failed', message: `its thread exited (code ${code})` }));
  });
  worker.removeAllListeners('message').removeAllListeners('exit');
  // A thread that fails after its answer already shows as refused connections.
  worker.removeAllListeners('error').on('error', () => undefined);
  if (reply.kind === 'ready') return { worker, url: reply.url, busySince: new Float64Array(busySince), tarball: reply.tarball };
  await worker.terminate();
  if (reply.kind === 'unusable') return reply;
  throw new Error(`the embedded database failed to start: ${reply.message}`);
}

/** Ends a database thread: gracefully when it answers within a second, else terminated. */
async function endThread(thread: DatabaseThread): Promise<void> {
  const exited = new Promise<void>((resolve) => thread.worker.once('exit', () => resolve()));
  if (thread.busySince[0] === 0) thread.worker.postMessage({ kind: 'close' });
  const timer = setTimeout(() => void thread.worker.terminate(), thread.busySince[0] === 0 ? 1_000 : 0);
  await exited;
  clearTimeout(timer);
}

/**
 * The embedded server: a database thread, restarted on the same port from the same data when a
 * statement overran and had to be stopped (the only way to stop a PGlite statement).
 */
class ThreadedServer implements EmbeddedServer {
  readonly url: string;
  readonly seededNow: boolean;
  stops = 0;
  private thread: DatabaseThread | null;
  private restarting: Promise<void> = Promise.resolve();
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    thread: DatabaseThread,
    seededNow: boolean,
    private readonly restart: (port: number) => Promise<DatabaseThread>,
  ) {
    this.thread = thread;
    this.url = thread.url;
    this.seededNow = seededNow;
  }

  ready(): Promise<void> {
    return this.restarting;
  }

  limitStatements(ms: number): void {
    clearInterval(this.watchdog);
    if (!(ms > 0)) return;
    this.watchdog = setInterval(() => {
      const since = this.thread?.busySince[0] ?? 0;
      if (since !== 0 && Date.now() - since > ms) void this.stopStatement(true);
    }, Math.min(250, Math.max(10, ms / 4)));
    this.watchdog.unref();
  }

  async stopStatement(restart: boolean): Promise<boolean> {
    const thread = this.thread;
    if (thread === null || thread.busySince[0] === 0) return false;
    this.stops += 1;
    this.thread = null;
    const port = Number(new URL(this.url).port);
    this.restarting = (async () => {
      await thread.worker.terminate();
      if (restart && !this.closed) this.thread = await this.restart(port);
    })();
    await this.restarting.catch(() => undefined);
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    await this.restarting.catch(() => undefined);
    if (this.thread !== null) await endThread(this.thread);
    this.thread = null;
  }
}

/** A thread that must start: an unusable source here is a bug, not a cache miss. */
async function mustStart(source: EmbeddedSource, port: number, onEvent?: EmbeddedOptions['onEvent']): Promise<DatabaseThread> {
  const thread = await startThread(source, port, onEvent);
  if ('reason' in thread) throw new Error(`the embedded database failed to start: ${thread.reason}`);
  return thread;
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
  const fromFile: EmbeddedSource = { kind: 'file', file: cached };
  if (!options.force) {
    // The thread reads and checks the file itself: 70 MB hashed off ctxbench's own thread.
    const thread = await startThread(fromFile, 0);
    if (!('reason' in thread)) {
      options.onEvent?.({ kind: 'cache-hit', dir: cached });
      // Its modification time is its last use (see pruneStale); a read-only cache is still usable.
      const now = new Date();
      await utimes(cached, now, now).catch(() => undefined);
      return new ThreadedServer(thread, false, (port) => mustStart(fromFile, port));
    }
    if (!thread.missing) options.onEvent?.({ kind: 'cache-invalid', file: cached, reason: thread.reason });
  }
  const { scale, seed, fixtures } = options;
  // The server keeps the thread, not the tarball it seeded (the cache file serves restarts).
  const { tarball, ...thread } = await mustStart({ kind: 'seed', scale, seed, fixtures }, 0, options.onEvent);
  const stored = await storeCache(cacheRoot, cached, tarball!, options);
  // Restarts read the cache file; when it could not be written, this run keeps the bytes.
  const restartFrom: EmbeddedSource = stored ? fromFile : { kind: 'bytes', bytes: tarball! };
  return new ThreadedServer(thread, true, (port) => mustStart(restartFrom, port));
}

/**
 * Starts an empty embedded database (no reference dataset) and runs `setup` on it through
 * pg, e.g. a user's own schema and rows. Never cached: it is rebuilt every run (and `setup`
 * runs again if the database is restarted after a statement overran).
 *
 * @example
 * const server = await startEmbeddedEmpty(async (url) => { ... create tables ... });
 */
export async function startEmbeddedEmpty(setup: (url: string) => Promise<void>): Promise<EmbeddedServer> {
  const boot = async (port: number): Promise<DatabaseThread> => {
    const thread = await mustStart({ kind: 'empty' }, port);
    try {
      await setup(thread.url);
    } catch (error) {
      await endThread(thread);
      throw error;
    }
    return thread;
  };
  return new ThreadedServer(await boot(0), true, boot);
}
