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
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
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

/** A free loopback port (briefly bound, then released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `ctxbench proxy` in a child process in front of `url`; resolves when it accepts connections. */
async function startProxyProcess(url) {
  const port = await freePort();
  const bin = fileURLToPath(new URL('../../bin/ctxbench.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'proxy', '--upstream', url, '--listen', `127.0.0.1:${port}`, '--format', 'json'], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('ctxbench proxy did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  return {
    url: proxied.toString(),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT');
      }),
  };
}

/** Measures raw vs instrumented on the server at `url` (which already holds the products table). */
export async function measureOverhead(url, { statements, blockSize, warmup, replay, withProxy = true }) {
  // Recordings end with fingerprinting: have the parser loaded before anything is timed.
  await initFingerprinting();
  const raw = await connect(url);
  const tapped = await connect(url);
  // Third side: the same statements through ctxbench's recording wire proxy (issue: profile any
  // application), whose cost per statement at 0 ms RTT is the figure that matters there.
  // The proxy runs as users run it, `ctxbench proxy` in a process of its own: in this process it
  // would share the event loop with the client and be charged twice.
  // (The embedded server takes two connections, so there the proxy side is left out.)
  const proxy = withProxy ? await startProxyProcess(url) : null;
  const proxied = proxy === null ? null : await connect(proxy.url);
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
    if (proxied !== null) await timedBlock(proxied, warmup, 0, null);
    rotate();
    recorded = wireBytes = rows = finaliseMs = 0;

    const times = { raw: [], instrumented: [], proxied: [] };
    const clients = { raw, instrumented: tapped, proxied };
    const orders = [
      ['raw', 'instrumented', 'proxied'],
      ['proxied', 'raw', 'instrumented'],
      ['instrumented', 'proxied', 'raw'],
    ];
    const blocks = Math.ceil(statements / blockSize);
    for (let b = 0; b < blocks; b++) {
      const count = Math.min(blockSize, statements - b * blockSize);
      // Rotating orders: no side always runs right after another.
      for (const side of orders[b % orders.length].filter((x) => x !== 'proxied' || proxied !== null)) {
        await timedBlock(clients[side], count, b * blockSize, times[side]);
        if (side === 'instrumented') rotate();
      }
    }
    const proxiedMs = proxied === null ? null : median(times.proxied);
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
      ...(proxiedMs === null
        ? {}
        : {
            proxiedMedianUs: round(proxiedMs * 1000, 1),
            proxyDifferenceUs: round((proxiedMs - rawMs) * 1000, 1),

          }),
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
    await proxied?.end().catch(() => undefined);
    await proxy?.stop();
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
    const figures = await measureOverhead(server.url, { statements, blockSize, warmup, replay, withProxy: false });
    backends.push({ kind: 'pglite', serverVersion: String(rows[0].server_version), ...figures });
  } finally {
    await server.close();
  }
  return {
    sql: OVERHEAD_SQL,
    goalRatio: 1.05,
    proxyGoalUs: 50,
    backends,
    postgresSkipped: postgres.url ? null : postgres.reason,
  };
}
