/**
 * What a recording says when things go wrong, against a scripted fake upstream (exact bytes,
 * no timing): failed statements, a session the server ends with FATAL, a client that vanishes
 * mid-statement, a framing error, and a message over the size limit.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { recordingReport } from '../../src/commands/record.js';
import { startWireProxy, type WireProxy } from '../../src/core/net/wire-proxy.js';
import { MessageFramer } from '../../src/core/wire/message-framer.js';
import { renderTable } from '../../src/report/table.js';

function msg(type: string, body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(4 + b.length, 1);
  return Buffer.concat([head, b]);
}
const query = (sql: string) => msg('Q', `${sql}\0`);
const ready = msg('Z', 'I');
function error(severity: string, code: string, message: string): Buffer {
  return msg('E', `S${severity}\0V${severity}\0C${code}\0M${message}\0\0`);
}
function startupMessage(): Buffer {
  const params = Buffer.from('user\0app\0database\0app\0\0');
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, params]);
}

/**
 * A server that answers the startup, then each Query by its text: `ok` one row, `fail` an
 * ERROR, `die` a FATAL and a close (as pg_terminate_backend does), `hang` nothing.
 */
let upstream: net.Server | null = null;
let received = 0;
async function fakeServer(): Promise<number> {
  received = 0;
  upstream = net.createServer((s) => {
    s.on('error', () => undefined);
    let started = false;
    let head = Buffer.alloc(0);
    const framer = new MessageFramer(
      () => Infinity,
      (m) => {
        if (m.type !== 'Q') return;
        const sql = m.head.toString('utf8', 0, m.head.length - 1);
        if (sql === 'ok') s.write(Buffer.concat([msg('D', Buffer.from([0, 1, 0, 0, 0, 1, 0x31])), msg('C', 'SELECT 1\0'), ready]));
        else if (sql === 'fail') s.write(Buffer.concat([error('ERROR', '42P01', 'relation "nope" does not exist'), ready]));
        else if (sql === 'die') s.end(error('FATAL', '57P01', 'terminating connection due to administrator command'));
      },
    );
    s.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (!started) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 4 || head.length < head.readInt32BE(0)) return;
        started = true;
        s.write(Buffer.concat([msg('R', Buffer.from([0, 0, 0, 0])), ready]));
        chunk = head.subarray(head.readInt32BE(0));
      }
      try {
        framer.push(chunk);
      } catch {
        // A framing error: the real server would end the session; this one just stops reading.
      }
    });
  });
  await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', r));
  return (upstream.address() as net.AddressInfo).port;
}

let proxy: WireProxy | null = null;
afterEach(async () => {
  await proxy?.close();
  proxy = null;
  await new Promise((r) => (upstream ? upstream.close(r) : r(undefined)));
  upstream = null;
});

/** A raw client through the proxy, started (its first ReadyForQuery read). */
async function session(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let got = Buffer.alloc(0);
  let waiters: (() => void)[] = [];
  socket.on('data', (c: Buffer) => {
    got = Buffer.concat([got, c]);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  /** Waits until `n` ReadyForQuery (or the close) have arrived in all. */
  const readies = async (n: number) => {
    while (countReady(got) < n) {
      const more = new Promise<void>((r) => waiters.push(r));
      if ((await Promise.race([more.then(() => 'data'), closed.then(() => 'closed')])) === 'closed') return;
    }
  };
  socket.write(startupMessage());
  await readies(1);
  return { socket, closed, readies, received: () => got };
}

function countReady(b: Buffer): number {
  let n = 0;
  let at = 0;
  while (at + 5 <= b.length) {
    if (b[at] === 0x5a) n += 1;
    at += 1 + b.readInt32BE(at + 1);
  }
  return n;
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('a recording tells what went wrong', () => {
  it('counts failed statements and the statement of a session the server ended (FATAL), with their errors', async () => {
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: await fakeServer(), upstreamTls: { mode: 'disable' } });
    const c = await session(proxy.port);
    c.socket.write(query('ok'));
    await c.readies(2);
    c.socket.write(query('fail'));
    await c.readies(3);
    c.socket.write(query('die'));
    await c.closed;
    await until(() => proxy!.openConnections === 0);
    const recording = proxy.recording();
    expect(recording.connections[0]).toMatchObject({
      statements: 3,
      abandoned: 1,
      upstreamError: null,
      terminated: 'terminating connection due to administrator command (SQLSTATE 57P01)',
      closedBy: 'server',
      trackingError: null,
    });
    expect(recording.statements.map((s) => [s.sql, s.error])).toEqual([
      ['ok', null],
      ['fail', 'relation "nope" does not exist (SQLSTATE 42P01)'],
      ['die', 'terminating connection due to administrator command (SQLSTATE 57P01)'],
    ]);
    const report = await recordingReport(recording, { showContent: true });
    expect(report.strategies[0]!.totals.queries).toBe(3);
    const table = renderTable(report, { color: false });
    expect(table).toMatch(/│ failed statements +│ +2 │/);
    expect(table).toContain('Failures\n  recording: 2 failed statements\n');
    expect(table).toContain('relation "nope" does not exist (SQLSTATE 42P01)  fail');
    expect(table).toContain(
      'Connections\n  connection 1: ended by the server: terminating connection due to administrator command (SQLSTATE 57P01); 1 statement left unanswered',
    );
    expect(table).not.toContain('could not reach');
  });

  it('records a statement cut by a client that vanished, with why', async () => {
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: await fakeServer(), upstreamTls: { mode: 'disable' } });
    const c = await session(proxy.port);
    c.socket.write(query('hang'));
    await until(() => received >= startupMessage().length + query('hang').length);
    // Gone at once, with a reset (as a killed process goes): the upstream may close before the client's close is seen.
    c.socket.resetAndDestroy();
    await until(() => proxy!.openConnections === 0);
    const recording = proxy.recording();
    expect(recording.connections[0]).toMatchObject({ statements: 1, abandoned: 1, terminated: null, closedBy: 'client' });
    expect(recording.statements.map((s) => [s.sql, s.error, s.status])).toEqual([
      ['hang', 'not answered: the client closed the connection', null],
    ]);
    const report = await recordingReport(recording);
    expect(report.strategies[0]!.totals.queries).toBe(1);
    expect(renderTable(report, { color: false })).toContain('connection 1: 1 statement left unanswered');
  });

  it('after a framing error, counts the client bytes it could not track and says so', async () => {
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: await fakeServer(), upstreamTls: { mode: 'disable' } });
    const c = await session(proxy.port);
    c.socket.write(query('hang'));
    await until(() => received >= startupMessage().length + query('hang').length);
    // A length word below 4 cannot be framed.
    const bad = Buffer.concat([Buffer.from([0x51, 0, 0, 0, 1]), query('ok')]);
    c.socket.write(bad);
    await until(() => received >= startupMessage().length + query('hang').length + bad.length);
    const later = Buffer.concat([query('ok'), query('ok')]);
    c.socket.write(later);
    await until(() => received >= startupMessage().length + query('hang').length + bad.length + later.length);
    c.socket.destroy();
    await until(() => proxy!.openConnections === 0);
    const recording = proxy.recording();
    expect(recording.connections[0]).toMatchObject({
      trackingError: "client: wire protocol: message 'Q' has invalid length 1",
      untrackedBytes: bad.length + later.length,
      abandoned: 1,
      statements: 1,
    });
    expect(recording.statements[0]!.error).toBe(
      "not measured: the proxy stopped reading this connection (client: wire protocol: message 'Q' has invalid length 1)",
    );
    const table = renderTable(await recordingReport(recording), { color: false });
    expect(table).toContain(
      `connection 1: 1 statement left unanswered; not measured after a protocol error (client: wire protocol: message 'Q' has invalid length 1): ${bad.length + later.length} client bytes untracked, their statements missing`,
    );
  });

  it('a proxy stopped with a session open does not call it ended by the server', async () => {
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: await fakeServer(), upstreamTls: { mode: 'disable' } });
    const c = await session(proxy.port);
    c.socket.write(query('hang'));
    await until(() => received >= startupMessage().length + query('hang').length);
    const stopped = proxy;
    await stopped.close();
    await until(() => stopped.recording().connections[0]!.closedAt !== null);
    expect(stopped.recording().connections[0]).toMatchObject({ terminated: null, closedBy: 'proxy', abandoned: 1 });
    expect(stopped.recording().statements.map((s) => s.error)).toEqual(['not answered: the proxy was stopped']);
  });

  it('refuses a message over the size limit with SQLSTATE 54000, forwards none of it, and serves the next client', async () => {
    proxy = await startWireProxy({
      upstreamHost: '127.0.0.1',
      upstreamPort: await fakeServer(),
      upstreamTls: { mode: 'disable' },
      maxMessageBytes: 4096,
    });
    const big = query(`select '${'x'.repeat(10_000)}'`);
    const c = await session(proxy.port);
    const before = received;
    c.socket.write(Buffer.concat([query('hang'), big]));
    await c.closed;
    const reply = c.received().subarray(c.received().lastIndexOf(0x45));
    expect(reply.subarray(5).toString()).toBe(
      `SFATAL\0VFATAL\0C54000\0Mctxbench proxy: a ${big.length}-byte message is over the proxy's limit of 4096 bytes (--max-message-bytes)\0\0`,
    );
    // Nothing of the oversized message (nor of its chunk) reached the server.
    expect(received).toBe(before);
    const next = await session(proxy.port);
    next.socket.write(query('ok'));
    await next.readies(2);
    next.socket.destroy();
    await until(() => proxy!.openConnections === 0);
    const [refused, served] = proxy.recording().connections;
    expect(refused).toMatchObject({ refusedMessageBytes: big.length, terminated: null });
    expect(served).toMatchObject({ refusedMessageBytes: null, statements: 1 });
  });
});
