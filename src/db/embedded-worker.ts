/**
 * The embedded database's thread: PGlite and its loopback server run here, in a worker, not on
 * ctxbench's own thread. PGlite runs a statement synchronously and cannot cancel it (no signals
 * in WASM, so no statement_timeout either): on ctxbench's thread a `select pg_sleep(600)` would
 * block every timer, Ctrl-C and time limit with it. Here it blocks only this thread, which the
 * main thread watches through a shared clock and terminates when a statement overruns.
 *
 * Started by embedded-server.ts with {@link EmbeddedWorkerData}; answers one
 * {@link EmbeddedWorkerReply}, then serves until it is told to close (or is terminated).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { readCacheFile, reasonOf } from './cache-file.js';
import type { EmbeddedEvent } from './embedded-server.js';
import type { ConversationFixture } from './fixtures.js';
import type { ScaleSpec } from './seed/scales.js';

const gunzipAsync = promisify(gunzip);

/** What the worker starts from. */
export type EmbeddedSource =
  /** A cache file (verified here, off the main thread). */
  | { kind: 'file'; file: string }
  /** A data directory tarball. */
  | { kind: 'bytes'; bytes: Uint8Array }
  /** A fresh empty database. */
  | { kind: 'empty' }
  /** A fresh database seeded with the reference dataset here; its tarball comes with the answer. */
  | { kind: 'seed'; scale: ScaleSpec; seed: number; fixtures: ConversationFixture[] };

/** The worker's input. */
export interface EmbeddedWorkerData {
  source: EmbeddedSource;
  /** 0 for any free port; a restart asks for the port its clients already know. */
  port: number;
  /**
   * One Float64: `Date.now()` when PGlite began the protocol exchange it is running, 0 while
   * idle. Written here, read by the main thread's watchdog.
   */
  busySince: SharedArrayBuffer;
}

/** The worker's one answer (seeding events may come before it). */
export type EmbeddedWorkerReply =
  /** Serving; `tarball`: the seeded data directory, for the cache (source `seed` only). */
  | { kind: 'ready'; url: string; tarball?: Uint8Array }
  /** The cache file cannot be used (missing, damaged, or PGlite cannot load it). */
  | { kind: 'unusable'; reason: string; missing: boolean }
  | { kind: 'failed'; message: string };

/** What the worker says before its answer. */
export type EmbeddedWorkerEvent = { kind: 'event'; event: EmbeddedEvent };

/** The data directory to load, or why there is none. */
async function dataDir(source: EmbeddedSource): Promise<{ tarball: Blob | undefined } | EmbeddedWorkerReply> {
  if (source.kind === 'empty' || source.kind === 'seed') return { tarball: undefined };
  if (source.kind === 'bytes') return { tarball: tarballBlob(source.bytes) };
  let checked: Awaited<ReturnType<typeof readCacheFile>>;
  try {
    checked = await readCacheFile(source.file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT' || code === 'ENOTDIR';
    return { kind: 'unusable', missing, reason: `cannot read it (${reasonOf(error)})` };
  }
  if ('problem' in checked) return { kind: 'unusable', missing: false, reason: checked.problem };
  // A large data directory is cached gzip-compressed (its first bytes say so).
  const gzipped = checked.tarball[0] === 0x1f && checked.tarball[1] === 0x8b;
  return { tarball: tarballBlob(gzipped ? await gunzipAsync(checked.tarball) : checked.tarball) };
}

/**
 * The tarball as PGlite takes it. PGlite only reads `type` and `arrayBuffer()`: answering with
 * the array's own buffer spares a Blob's copy of it (70 MB at the default scale).
 */
function tarballBlob(tarball: Uint8Array): Blob {
  const whole = tarball.byteOffset === 0 && tarball.byteLength === tarball.buffer.byteLength;
  if (!whole) return new Blob([tarball]);
  return { type: '', size: tarball.byteLength, arrayBuffer: async () => tarball.buffer } as unknown as Blob;
}

async function start(data: EmbeddedWorkerData): Promise<EmbeddedWorkerReply> {
  const found = await dataDir(data.source);
  if ('kind' in found) return found;
  const loaded = found.tarball;
  let db: PGlite;
  try {
    db = await PGlite.create(loaded === undefined ? {} : { loadDataDir: loaded });
  } catch (error) {
    // Its checksum held, yet PGlite cannot load it (written by a broken build?): seed again.
    if (data.source.kind === 'file') return { kind: 'unusable', missing: false, reason: `PGlite cannot load it (${reasonOf(error)})` };
    throw error;
  }
  watchExchanges(db, new Float64Array(data.busySince));
  // ctxbench's own session and one more through the --rtt delay proxy, and room for a new
  // connection that arrives here before the close of the one it replaces (the close comes from
  // another thread, through the proxy). PGlite still runs one statement at a time; a second
  // connection only waits while the first is idle.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: data.port, maxConnections: 4 });
  await server.start();
  parentPort!.on('message', (message: { kind?: string }) => {
    if (message?.kind !== 'close') return;
    void (async () => {
      await server.stop().catch(() => undefined);
      await db.close().catch(() => undefined);
      parentPort!.close();
    })();
  });
  const url = `postgres://postgres@${server.getServerConn()}/postgres`;
  if (data.source.kind !== 'seed') return { kind: 'ready', url };
  // Seeded here and served as it is: no second load of the data it was dumped to.
  const tarball = await seed(db, url, data.source);
  return { kind: 'ready', url, tarball };
}

/** Seeds `db` (served at `url`) and returns its data directory as an uncompressed tarball. */
async function seed(db: PGlite, url: string, source: Extract<EmbeddedSource, { kind: 'seed' }>): Promise<Uint8Array> {
  const say = (event: EmbeddedEvent): void => parentPort!.postMessage({ kind: 'event', event } satisfies EmbeddedWorkerEvent);
  // Only a seeding thread loads the generator and knex.
  const { seedEmbedded } = await import('./dataset.js');
  const { quietKnexOn } = await import('./knex-quiet.js');
  const knex = quietKnexOn(url);
  try {
    say({ kind: 'seeding', scale: source.scale.name, seed: source.seed });
    const summary = await seedEmbedded(db, knex, {
      scale: source.scale,
      seed: source.seed,
      fixtures: source.fixtures,
      onProgress: (p) => say({ kind: 'seed-progress', ...p }),
    });
    const rows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
    say({ kind: 'seeded', rows, ms: summary.elapsedMs });
  } finally {
    await knex.destroy();
  }
  // Uncompressed: the cache compresses only a large one (storeCache), as every warm run loads it.
  return new Uint8Array(await (await db.dumpDataDir('none')).arrayBuffer());
}

/** Notes on the shared clock when each protocol exchange starts and ends (pglite-socket runs every one through this method). */
function watchExchanges(db: PGlite, busySince: Float64Array): void {
  const exchange = db.execProtocolRawStream.bind(db);
  db.execProtocolRawStream = async (...args: Parameters<PGlite['execProtocolRawStream']>) => {
    busySince[0] = Date.now();
    try {
      return await exchange(...args);
    } finally {
      busySince[0] = 0;
    }
  };
}

start(workerData as EmbeddedWorkerData).then(
  (reply) => parentPort!.postMessage(reply, reply.kind === 'ready' && reply.tarball ? [reply.tarball.buffer as ArrayBuffer] : []),
  (error: unknown) => parentPort!.postMessage({ kind: 'failed', message: reasonOf(error) } satisfies EmbeddedWorkerReply),
);
