/**
 * Section 2 — what ctxbench's instrumentation costs per statement: the same statement through
 * a pg.Client whose socket a Recorder taps (framing, statement tracking, a recording open) and
 * through a raw pg.Client, both connected to the same server. On a real server, also through
 * three processes in front of it: `ctxbench proxy` (forwards, frames, records), a bare Node
 * forwarder that parses nothing, and socat when it is installed, so the proxy's figure can be
 * split into what any extra hop costs and what ctxbench's measuring adds to it. Every side runs
 * in rotating interleaved blocks so drift hits all alike; each side's figure is the median
 * per-statement time, with its p95. Call sites are a side of their own: the instrumented client
 * capturing them (a bounded stack per statement, as under `profile()`), block for block against
 * the same client with capturing off (as `compare`'s timed builds run), in wall and CPU time; and,
 * without a server, the capture at both depths and the resolving.
 */
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { initFingerprinting } from '../../dist/core/analysis/fingerprint.js';
import { CALL_SITE_DEPTH, ENTRY_DEPTH, captureCallSite, resolveCallSite, traceCallSites } from '../../dist/core/call-site.js';
import { Recorder } from '../../dist/core/recorder.js';
import { pgClientSocket } from '../../dist/core/session.js';
import { startEmbeddedEmpty } from '../../dist/db/embedded-server.js';
import { blockOrder } from '../lib/interleave.mjs';
import { withTempDatabase } from '../lib/postgres.mjs';
import { clockTicksPerSecond, findOnPath, freePort, processCpuMs, startListener } from '../lib/processes.mjs';
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
  // The tap only notes chunks; framing and tracking run when the recording is read (stop):
  // timed apart, per statement, as the work done outside the measured code.
  const parsed = [];
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
          const started = performance.now();
          recording.stop();
          parsed.push(((performance.now() - started) * 1000) / perBlock);
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
    parseAtStopUs: round(median(parsed), 2),
    sentChunks: bytes.sent.length,
    receivedChunks: bytes.received.length,
  };
}

/** Runs `fn` under `depth` frames of plain calls, as a driver's own frames sit above its caller's. */
function nested(depth, fn) {
  return depth === 0 ? fn() : nested(depth - 1, fn);
}

/**
 * What a call site costs without a server, in a stack deeper than either bound: capturing one
 * where a knex query or `db.query` enters ({@link ENTRY_DEPTH} frames) and at pg's `query`
 * ({@link CALL_SITE_DEPTH} frames, when nothing captured it before) — what the measured code pays
 * per statement — and resolving it to `path:line`, which reading the recording pays.
 */
function callSiteCost({ blocks, perBlock }) {
  const entry = [];
  const driver = [];
  const resolve = [];
  const timed = (depth, into) => {
    const sites = new Array(perBlock);
    const started = performance.now();
    nested(24, () => {
      for (let i = 0; i < perBlock; i++) sites[i] = captureCallSite(undefined, depth);
    });
    into.push(((performance.now() - started) * 1000) / perBlock);
    return sites;
  };
  for (let b = 0; b < blocks; b++) {
    timed(ENTRY_DEPTH, entry);
    const sites = timed(CALL_SITE_DEPTH, driver);
    const started = performance.now();
    for (const site of sites) resolveCallSite(site);
    resolve.push(((performance.now() - started) * 1000) / perBlock);
  }
  return {
    entryDepth: ENTRY_DEPTH,
    depth: CALL_SITE_DEPTH,
    entryCaptureUs: round(median(entry), 2),
    captureUs: round(median(driver), 2),
    resolveUs: round(median(resolve), 2),
  };
}

/** `url` with its host and port replaced by a loopback listener's. */
function viaPort(url, port) {
  const via = new URL(url);
  via.hostname = '127.0.0.1';
  via.port = String(port);
  return via.toString();
}

/**
 * Starts, each as a process of its own in front of the server at `url`: `ctxbench proxy` as
 * users run it, the bare Node forwarder, and socat when it is on PATH. In this process a hop
 * would share the event loop with the client and be charged twice. Resolves with the hops that
 * started (`{ url, pid, stop }` by side) and why socat is missing when it is.
 */
async function startHops(url) {
  const upstream = new URL(url);
  const host = upstream.hostname || 'localhost';
  const port = upstream.port || '5432';
  const hops = {};
  let socatSkipped = null;
  try {
    let listen = await freePort();
    const bin = fileURLToPath(new URL('../../bin/ctxbench.js', import.meta.url));
    const proxyArgs = [bin, 'proxy', '--upstream', url, '--listen', `127.0.0.1:${listen}`, '--format', 'json'];
    hops.proxied = { url: viaPort(url, listen), ...(await startListener('ctxbench proxy', process.execPath, proxyArgs, listen)) };

    listen = await freePort();
    const forwarder = fileURLToPath(new URL('../lib/forwarder.mjs', import.meta.url));
    const forwarderArgs = [forwarder, String(listen), `${host}:${port}`];
    hops.forwarder = {
      url: viaPort(url, listen),
      ...(await startListener('bare forwarder', process.execPath, forwarderArgs, listen)),
    };

    const socat = findOnPath('socat');
    if (socat === null) socatSkipped = 'socat is not on PATH';
    else {
      listen = await freePort();
      // fork: one child per connection, as socat is used as a relay; nodelay as the others have it.
      const socatArgs = [`TCP-LISTEN:${listen},bind=127.0.0.1,reuseaddr,fork,nodelay`, `TCP:${host}:${port},nodelay`];
      try {
        hops.socat = { url: viaPort(url, listen), ...(await startListener('socat', socat, socatArgs, listen)) };
      } catch (error) {
        socatSkipped = error.message;
      }
    }
  } catch (error) {
    await stopHops(hops);
    throw error;
  }
  return { hops, socatSkipped };
}

async function stopHops(hops) {
  await Promise.all(Object.values(hops).map((hop) => hop.stop()));
}

/** Median and p95 of one side's per-statement milliseconds, in µs, and its difference from `baseMs`. */
function sideFigures(times, baseMs) {
  const p50 = median(times);
  return {
    medianUs: round(p50 * 1000, 1),
    p95Us: round(percentile(times, 95) * 1000, 1),
    differenceUs: round((p50 - baseMs) * 1000, 1),
  };
}

/**
 * Measures raw vs instrumented on the server at `url` (which already holds the products table)
 * and, with `withProxy`, the hops in front of it (the embedded server takes two connections,
 * so there they are left out).
 */
export async function measureOverhead(url, { statements, blockSize, warmup, hopWarmup = warmup, replay, withProxy = true }) {
  // Recordings end with fingerprinting: have the parser loaded before anything is timed.
  await initFingerprinting();
  const clients = {};
  const { hops, socatSkipped } = withProxy ? await startHops(url) : { hops: {}, socatSkipped: null };
  const recorder = new Recorder();
  let recording = null;
  let recorded = 0;
  let wireBytes = 0;
  let rows = 0;
  let finaliseMs = 0;
  // The call-site side: the instrumented client, its query traced only during that side's blocks.
  let callSitesOn = false;
  const sited = { statements: 0, finaliseMs: 0, resolved: 0 };
  // Closing a recording turns its tracked statements into records (numbering, fingerprints, and
  // call sites resolved): done between blocks, outside the timed statements, and timed on its own.
  const rotate = (side = 'instrumented') => {
    const started = performance.now();
    const records = recording.stop();
    if (side === 'callSites') {
      sited.finaliseMs += performance.now() - started;
      sited.statements += records.length;
      sited.resolved += records.filter((r) => r.callSite !== null).length;
      recording = recorder.start();
      return records.length;
    }
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
    clients.raw = await connect(url);
    clients.instrumented = await connect(url);
    for (const side of ['forwarder', 'socat', 'proxied']) if (hops[side]) clients[side] = await connect(hops[side].url);
    recorder.attach(pgClientSocket(clients.instrumented));
    traceCallSites(clients.instrumented, () => callSitesOn && recorder.recording);
    recording = recorder.start();
    const sides = ['raw', 'instrumented', 'callSites', 'forwarder', 'socat', 'proxied'].filter(
      (side) => side === 'callSites' || clients[side] !== undefined,
    );
    const clientOf = (side) => (side === 'callSites' ? clients.instrumented : clients[side]);
    // This process's CPU time per statement, block by block, on the two sides that differ only in
    // capturing: the capture runs once pg has written the statement, while the server works, so
    // what it costs shows in the CPU time even when the wall time hides it.
    const cpu = { instrumented: [], callSites: [] };
    const run = async (side, count, offset, into) => {
      callSitesOn = side === 'callSites';
      const cpuBefore = process.cpuUsage();
      try {
        await timedBlock(clientOf(side), count, offset, into);
      } finally {
        callSitesOn = false;
      }
      if (into && cpu[side]) {
        const used = process.cpuUsage(cpuBefore);
        cpu[side].push((used.user + used.system) / count);
      }
      if (side === 'instrumented' || side === 'callSites') rotate(side);
    };

    // A hop is a fresh process: V8 compiles its hot code (on a thread of its own, counted in its
    // CPU time) over its first thousands of statements. Warmed only as long as the in-process
    // sides, its CPU per statement would include that one-time compiling, divided by however
    // many statements the run times, and most for the hop with the most code: the proxy. Each
    // hop gets the same longer warm-up, and what it cost is reported apart.
    const warmupCpuMs = {};
    for (const side of sides) {
      const hop = hops[side];
      const before = hop ? processCpuMs(hop.pid) : null;
      await run(side, hop ? Math.max(hopWarmup, warmup) : warmup, 0, null);
      const after = hop ? processCpuMs(hop.pid) : null;
      if (before !== null && after !== null) warmupCpuMs[side] = round(after - before, 0);
    }
    recorded = wireBytes = rows = finaliseMs = 0;
    sited.statements = sited.finaliseMs = sited.resolved = 0;

    const times = Object.fromEntries(sides.map((side) => [side, []]));
    const blocks = Math.ceil(statements / blockSize);
    // A hop process's CPU time over all the timed blocks (it idles while the other sides run):
    // a clock tick (10 ms at 100 ticks/s) is longer than a block takes, so it is read once around the lot.
    const cpuBefore = { proxied: processCpuMs(hops.proxied?.pid), forwarder: processCpuMs(hops.forwarder?.pid) };
    for (let b = 0; b < blocks; b++) {
      const count = Math.min(blockSize, statements - b * blockSize);
      for (const side of blockOrder(sides, b)) await run(side, count, b * blockSize, times[side]);
    }
    const cpuUsPerStatement = (side) => {
      const after = processCpuMs(hops[side]?.pid);
      return after === null || cpuBefore[side] === null ? null : round(((after - cpuBefore[side]) * 1000) / statements, 1);
    };
    const proxyCpu = cpuUsPerStatement('proxied');
    const forwarderCpu = cpuUsPerStatement('forwarder');
    const ticks = clockTicksPerSecond();

    const rawMs = median(times.raw);
    const instrumentedMs = median(times.instrumented);
    const callSitesMs = median(times.callSites);
    const tapReplay = replayTapCost(await captureWireBytes(clients.raw), replay);
    const hop = (side) => (times[side] ? sideFigures(times[side], rawMs) : { medianUs: null, p95Us: null, differenceUs: null });
    const proxied = hop('proxied');
    const forwarder = hop('forwarder');
    const socat = hop('socat');
    return {
      statementsPerSide: statements,
      blockSize,
      blocks,
      sides,
      rawMedianUs: round(rawMs * 1000, 1),
      instrumentedMedianUs: round(instrumentedMs * 1000, 1),
      rawP95Us: round(percentile(times.raw, 95) * 1000, 1),
      instrumentedP95Us: round(percentile(times.instrumented, 95) * 1000, 1),
      differenceUs: round((instrumentedMs - rawMs) * 1000, 1),
      ratio: ratio(instrumentedMs, rawMs),
      callSites: {
        medianUs: round(callSitesMs * 1000, 1),
        p95Us: round(percentile(times.callSites, 95) * 1000, 1),
        // Against the same client untraced: what capturing the call site adds.
        overInstrumentedUs: round((callSitesMs - instrumentedMs) * 1000, 1),
        // The same, in this process's CPU time (medians of the blocks'): what capturing costs the machine.
        cpuOverInstrumentedUs: round(median(cpu.callSites) - median(cpu.instrumented), 1),
        ratio: ratio(callSitesMs, rawMs),
        resolvedStatements: sited.resolved,
        statements: sited.statements,
        finaliseUsPerStatement: round((sited.finaliseMs * 1000) / Math.max(1, sited.statements), 2),
        ...callSiteCost(replay),
      },
      ...(withProxy
        ? {
            proxiedMedianUs: proxied.medianUs,
            proxiedP95Us: proxied.p95Us,
            proxyDifferenceUs: proxied.differenceUs,
            forwarderMedianUs: forwarder.medianUs,
            forwarderP95Us: forwarder.p95Us,
            forwarderDifferenceUs: forwarder.differenceUs,
            socatMedianUs: socat.medianUs,
            socatP95Us: socat.p95Us,
            socatDifferenceUs: socat.differenceUs,
            socatSkipped,
            proxyOverForwarderUs: round(proxied.medianUs - forwarder.medianUs, 1),
            proxyCpuUsPerStatement: proxyCpu,
            forwarderCpuUsPerStatement: forwarderCpu,
            proxyCpuOverForwarderUs: proxyCpu === null || forwarderCpu === null ? null : round(proxyCpu - forwarderCpu, 1),
            // Untimed statements each hop ran first, and the CPU time they took (compiling included).
            hopWarmupStatements: Math.max(hopWarmup, warmup),
            proxyWarmupCpuMs: warmupCpuMs.proxied ?? null,
            forwarderWarmupCpuMs: warmupCpuMs.forwarder ?? null,
            // What one clock tick amounts to per statement: the CPU figures are no finer than this.
            cpuResolutionUs: ticks === null ? null : round(1e6 / ticks / statements, 1),
          }
        : {}),
      recordedStatements: recorded,
      rowsPerStatement: round(rows / Math.max(1, recorded), 2),
      wireBytesPerStatement: round(wireBytes / Math.max(1, recorded), 1),
      finaliseUsPerStatement: round((finaliseMs * 1000) / Math.max(1, recorded), 2),
      tapReplay,
    };
  } finally {
    recorder.detachAll();
    await Promise.all(Object.values(clients).map((client) => client.end().catch(() => undefined)));
    await stopHops(hops);
  }
}

/** The overhead on the embedded PGlite and, when there is one, on a real PostgreSQL. */
export async function overheadSection({ postgres, statements, blockSize, warmup, hopWarmup, replay, log }) {
  const backends = [];
  if (postgres.url) {
    log(`  PostgreSQL ${postgres.serverVersion}…`);
    const figures = await withTempDatabase(postgres.url, async (url) => {
      await runSetup(url);
      return measureOverhead(url, { statements, blockSize, warmup, hopWarmup, replay });
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
