/**
 * Section 2 — what ctxbench's instrumentation costs per statement: the same statement through
 * a pg.Client whose socket a Recorder taps (framing, statement tracking, a recording open) and
 * through a raw pg.Client, both connected to the same server, alternating in blocks so drift
 * hits both alike. Each side's figure is the median per-statement time.
 */
import { Duplex } from 'node:stream';
import pg from 'pg';
import { initFingerprinting } from '../../dist/core/analysis/fingerprint.js';
import { Recorder } from '../../dist/core/recorder.js';
import { pgClientSocket } from '../../dist/core/session.js';
import { startEmbeddedEmpty } from '../../dist/db/embedded-server.js';
import { withTempDatabase } from '../lib/postgres.mjs';
import { median, percentile, ratio, round } from '../lib/stats.mjs';

const TENANTS = 10;

/** A small products table like the reference one, the same on every backend. */
const SETUP_SQL = `
  create table products (
    id uuid primary key,
    user_id bigint not null,
    title text not null,
    is_active boolean not null,
    updated_at timestamptz not null
  );
  insert into products
    select md5(g::text)::uuid, 1 + g % ${TENANTS}, 'Product ' || g, g % 7 <> 0,
           timestamptz '2025-01-01 00:00:00+00' + g * interval '1 hour'
      from generate_series(1, 400) g;
  create index products_user_active_updated on products (user_id, is_active, updated_at);
  analyze products;
`;

export const OVERHEAD_SQL =
  'select id, title from products where user_id = $1 and is_active order by updated_at desc, id limit 6';

async function connect(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  return client;
}

async function runSetup(url) {
  const client = await connect(url);
  try {
    await client.query(SETUP_SQL);
  } finally {
    await client.end();
  }
}

/** Times `count` statements on `client`, pushing each one's milliseconds to `into`. */
async function timedBlock(client, count, offset, into) {
  for (let i = 0; i < count; i++) {
    const params = [1 + ((offset + i) % TENANTS)];
    const started = performance.now();
    await client.query(OVERHEAD_SQL, params);
    into?.push(performance.now() - started);
  }
}

/** The bytes one statement puts on the wire, each way, as the socket saw them (chunk by chunk). */
async function captureWireBytes(client) {
  const socket = pgClientSocket(client);
  const sent = [];
  const received = [];
  const write = socket.write;
  const ownWrite = Object.hasOwn(socket, 'write');
  socket.write = function (chunk, ...rest) {
    sent.push(Buffer.from(chunk));
    return write.call(this, chunk, ...rest);
  };
  const onData = (chunk) => received.push(Buffer.from(chunk));
  socket.prependListener('data', onData);
  try {
    await client.query(OVERHEAD_SQL, [1]);
  } finally {
    socket.removeListener('data', onData);
    if (ownWrite) socket.write = write;
    else delete socket.write;
  }
  return { sent, received };
}

function fakeSocket() {
  const socket = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
  socket.on('data', () => undefined);
  return socket;
}

/**
 * The tap's own CPU time per statement, without a server: one statement's captured bytes
 * replayed through a socket a Recorder taps (recording open) and through an untapped one,
 * alternating in blocks. The difference of the medians is what the tap costs the event loop.
 */
function replayTapCost(bytes, { blocks, perBlock }) {
  const plain = fakeSocket();
  const tappedSocket = fakeSocket();
  const recorder = new Recorder();
  recorder.attach(tappedSocket);
  let recording = recorder.start();
  const replay = (socket) => {
    const started = performance.now();
    for (let i = 0; i < perBlock; i++) {
      for (const chunk of bytes.sent) socket.write(chunk);
      for (const chunk of bytes.received) socket.emit('data', chunk);
    }
    return ((performance.now() - started) * 1000) / perBlock;
  };
  const times = { plain: [], tapped: [] };
  try {
    replay(plain);
    replay(tappedSocket);
    recording.stop();
    recording = recorder.start();
    for (let b = 0; b < blocks; b++) {
      const order = b % 2 === 0 ? ['plain', 'tapped'] : ['tapped', 'plain'];
      for (const side of order) {
        times[side].push(replay(side === 'plain' ? plain : tappedSocket));
        if (side === 'tapped') {
          recording.stop();
          recording = recorder.start();
        }
      }
    }
  } finally {
    recording.stop();
    recorder.detachAll();
  }
  return {
    statements: blocks * perBlock,
    untappedUs: round(median(times.plain), 2),
    tappedUs: round(median(times.tapped), 2),
    tapCpuUs: round(median(times.tapped) - median(times.plain), 2),
    sentChunks: bytes.sent.length,
    receivedChunks: bytes.received.length,
  };
}

/** Measures raw vs instrumented on the server at `url` (which already holds the products table). */
export async function measureOverhead(url, { statements, blockSize, warmup, replay }) {
  // Recordings end with fingerprinting: have the parser loaded before anything is timed.
  await initFingerprinting();
  const raw = await connect(url);
  const tapped = await connect(url);
  const recorder = new Recorder();
  recorder.attach(pgClientSocket(tapped));
  let recording = recorder.start();
  let recorded = 0;
  let wireBytes = 0;
  let rows = 0;
  let finaliseMs = 0;
  // Closing a recording turns its tracked statements into records (numbering, fingerprints):
  // done between blocks, outside the timed statements, and timed on its own.
  const rotate = () => {
    const started = performance.now();
    const records = recording.stop();
    finaliseMs += performance.now() - started;
    recorded += records.length;
    for (const r of records) {
      wireBytes += r.wireBytes;
      rows += r.rows;
    }
    recording = recorder.start();
    return records.length;
  };
  try {
    await timedBlock(raw, warmup, 0, null);
    await timedBlock(tapped, warmup, 0, null);
    rotate();
    recorded = wireBytes = rows = finaliseMs = 0;

    const times = { raw: [], instrumented: [] };
    const blocks = Math.ceil(statements / blockSize);
    for (let b = 0; b < blocks; b++) {
      const count = Math.min(blockSize, statements - b * blockSize);
      // A,B then B,A: neither side always runs right after the other.
      const order = b % 2 === 0 ? ['raw', 'instrumented'] : ['instrumented', 'raw'];
      for (const side of order) {
        await timedBlock(side === 'raw' ? raw : tapped, count, b * blockSize, times[side]);
        if (side === 'instrumented') rotate();
      }
    }
    const rawMs = median(times.raw);
    const instrumentedMs = median(times.instrumented);
    const tapReplay = replayTapCost(await captureWireBytes(raw), replay);
    return {
      statementsPerSide: statements,
      blockSize,
      blocks,
      rawMedianUs: round(rawMs * 1000, 1),
      instrumentedMedianUs: round(instrumentedMs * 1000, 1),
      rawP95Us: round(percentile(times.raw, 95) * 1000, 1),
      instrumentedP95Us: round(percentile(times.instrumented, 95) * 1000, 1),
      differenceUs: round((instrumentedMs - rawMs) * 1000, 1),
      ratio: ratio(instrumentedMs, rawMs),
      recordedStatements: recorded,
      rowsPerStatement: round(rows / Math.max(1, recorded), 2),
      wireBytesPerStatement: round(wireBytes / Math.max(1, recorded), 1),
      finaliseUsPerStatement: round((finaliseMs * 1000) / Math.max(1, recorded), 2),
      tapReplay,
    };
  } finally {
    recorder.detachAll();
    await raw.end().catch(() => undefined);
    await tapped.end().catch(() => undefined);
  }
}

/** The overhead on the embedded PGlite and, when there is one, on a real PostgreSQL. */
export async function overheadSection({ postgres, statements, blockSize, warmup, replay, log }) {
  const backends = [];
  if (postgres.url) {
    log(`  PostgreSQL ${postgres.serverVersion}…`);
    const figures = await withTempDatabase(postgres.url, async (url) => {
      await runSetup(url);
      return measureOverhead(url, { statements, blockSize, warmup, replay });
    });
    backends.push({ kind: 'postgres', serverVersion: postgres.serverVersion, ...figures });
  }
  log('  embedded PGlite…');
  const server = await startEmbeddedEmpty(runSetup);
  try {
    const probe = await connect(server.url);
    const { rows } = await probe.query('show server_version');
    await probe.end();
    const figures = await measureOverhead(server.url, { statements, blockSize, warmup, replay });
    backends.push({ kind: 'pglite', serverVersion: String(rows[0].server_version), ...figures });
  } finally {
    await server.close();
  }
  return {
    sql: OVERHEAD_SQL,
    goalRatio: 1.05,
    backends,
    postgresSkipped: postgres.url ? null : postgres.reason,
  };
}
