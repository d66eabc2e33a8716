/**
 * The recording proxy without a database: units of work and budgets on synthetic recordings,
 * and the startup phase (the proxy refusing SSL/GSS encryption itself, cancel requests, an
 * upstream that refuses) against a fake upstream.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTimeoutOf, markerOf, proxiedUrl, recordingReport, sslModeOf, upstreamTlsOf } from '../../src/commands/record.js';
import { budgetFromLimits, checkBudget } from '../../src/core/budget.js';
import { UsageError } from '../../src/core/errors.js';
import { startWireProxy, type ProxiedStatement, type ProxyRecording, type WireProxy } from '../../src/core/net/wire-proxy.js';
import { renderTable } from '../../src/report/table.js';
import { tlsFixtures } from '../support/tls-postgres.js';

let clock = 0;
function stmt(
  connectionId: number,
  sql: string,
  status: 'I' | 'T' | 'E',
  extra: Partial<ProxiedStatement> = {},
): ProxiedStatement {
  clock += 1;
  return {
    connectionId,
    sql,
    params: [],
    sentAt: clock,
    doneAt: clock + 0.5,
    startsRoundTrip: true,
    rows: 1,
    wireBytes: 60,
    sentBytes: 20,
    payloadBytes: 1,
    command: 'SELECT 1',
    error: null,
    status,
    ...extra,
  };
}

function recordingOf(statements: ProxiedStatement[]): ProxyRecording {
  return { upstream: { host: '127.0.0.1', port: 5432 }, serverVersion: '15.0', statements, connections: [] };
}

describe('markers', () => {
  it('recognises a marker SELECT and a marker comment', () => {
    expect(markerOf("SELECT 'ctxbench:turn checkout'")).toEqual({ label: 'checkout', only: true });
    expect(markerOf("select 'ctxbench:turn it''s';")).toEqual({ label: "it's", only: true });
    expect(markerOf("select * from t /* ctxbench_turn='a%20b' */")).toEqual({ label: 'a b', only: false });
    expect(markerOf("/* ctxbench_turn='x' */")).toEqual({ label: 'x', only: true });
    expect(markerOf('select 1')).toBeNull();
  });
});

describe('units of work in a recording', () => {
  it('without markers, each transaction or lone statement is a unit, per connection', async () => {
    const report = await recordingReport(
      recordingOf([
        stmt(1, 'select 1', 'I'),
        stmt(1, 'begin', 'T', { rows: 0 }),
        stmt(2, 'select 2', 'I'),
        stmt(1, 'select 3', 'T'),
        stmt(1, 'select 4', 'E', { error: 'boom', command: null, rows: 0 }),
        stmt(1, 'rollback', 'I', { rows: 0 }),
      ]),
      // The SQL as sent, to read the units off it.
      { showContent: true },
    );
    expect(report.recording.units).toBe('transactions');
    const turns = report.strategies[0]!.turnDetails;
    expect(turns.map((t) => t.queries)).toEqual([1, 4, 1]);
    expect(turns[1]!.statements.map((s) => s.sql)).toEqual(['begin', 'select 3', 'select 4', 'rollback']);
    expect(turns[2]!.statements[0]!.sql).toBe('select 2');
    expect(report.strategies[0]!.totals.queries).toBe(6);
  });

  it('with markers, a marker starts a labelled unit and is not counted', async () => {
    const report = await recordingReport(
      recordingOf([
        stmt(1, 'set search_path = public', 'I'),
        stmt(1, "select 'ctxbench:turn first'", 'I'),
        stmt(1, 'select 1', 'I'),
        stmt(2, 'select 2', 'I'),
        stmt(1, "select 'ctxbench:turn second'", 'I'),
        stmt(1, 'select 3', 'I'),
        stmt(1, "select 4 /* ctxbench_turn='third' */", 'I'),
        stmt(1, "select 5 /* ctxbench_turn='third' */", 'I'),
      ]),
      { name: 'app' },
    );
    expect(report.recording.units).toBe('markers');
    const s = report.strategies[0]!;
    expect(s.name).toBe('app');
    expect(s.turnDetails.map((t) => [t.turn, t.queries])).toEqual([
      ['(before first marker)', 1],
      ['first', 2],
      ['second', 1],
      ['third', 2],
    ]);
    expect((s.turnDetails[1] as unknown as { marker: { sql: string } | null }).marker?.sql).toBe("select 'ctxbench:turn first'");
    expect(renderTable(report, { color: false })).toContain('app');
  });

  it('an empty recording renders in every format', async () => {
    const report = await recordingReport(recordingOf([]));
    expect(report.strategies[0]!.turns).toBe(0);
    const { renderJson } = await import('../../src/report/json.js');
    const { renderMarkdown } = await import('../../src/report/markdown.js');
    const { renderJunit } = await import('../../src/report/junit.js');
    for (const text of [renderTable(report, { color: false }), renderJson(report), renderMarkdown(report), renderJunit(report)]) {
      expect(text.length).toBeGreaterThan(0);
    }
  });

  it('a budget gate on a recording trips a queries limit', async () => {
    const statements = [
      stmt(1, 'begin', 'T'),
      ...Array.from({ length: 5 }, (_, i) => stmt(1, `select * from t where id = ${i}`, 'T')),
      stmt(1, 'commit', 'I'),
    ];
    const report = await recordingReport(recordingOf(statements));
    const result = checkBudget(report, budgetFromLimits({ queries: 3 }));
    expect(result.passed).toBe(false);
    expect(result.violations[0]).toMatchObject({ metric: 'queries', strategy: 'recording', budget: 3, actual: 7 });
    const gated = await recordingReport(recordingOf(statements), { budget: budgetFromLimits({ queries: 10 }) });
    expect(gated.budget?.passed).toBe(true);
    // The N+1 shape shows up as a finding, as it would for a strategy.
    expect(report.strategies[0]!.findings.some((f) => f.kind === 'n-plus-one')).toBe(true);
  });

  it("a recording's table shows its figures and no prompt rows (a recorded program builds no prompt)", async () => {
    const report = await recordingReport(recordingOf([stmt(1, 'select 1', 'I'), stmt(1, 'select 2', 'I')]));
    const table = renderTable(report, { color: false });
    expect(table).toMatch(/queries\/turn\s+│\s+1 │/);
    expect(table).not.toContain('prompt bytes');
    expect(table).not.toContain('context identical');
  });
});

describe('startup phase against a fake upstream', () => {
  let upstream: net.Server;
  let proxy: WireProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await new Promise((r) => upstream.close(r));
  });

  async function fakeUpstream(onConnection: (socket: net.Socket) => void): Promise<number> {
    upstream = net.createServer(onConnection);
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    return (upstream.address() as net.AddressInfo).port;
  }

  function untyped(code: number, extra = Buffer.alloc(0)): Buffer {
    const b = Buffer.alloc(8);
    b.writeInt32BE(8 + extra.length, 0);
    b.writeInt32BE(code, 4);
    return Buffer.concat([b, extra]);
  }

  /** A StartupMessage for user `app`, database `db`. */
  function startupMessage(): Buffer {
    return untyped(196608, Buffer.from('user\0app\0database\0db\0\0'));
  }

  it('answers SSLRequest and GSSENCRequest with N itself, even split across chunks, and forwards none of them', async () => {
    const received: Buffer[] = [];
    const port = await fakeUpstream((s) => {
      s.on('data', (c) => {
        // The proxy's own SSLRequest (sslmode prefer, the default): no TLS here.
        if (received.length === 0) s.write('N');
        received.push(c);
      });
    });
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: port });
    const client = net.connect(proxy.port, '127.0.0.1');
    const got: Buffer[] = [];
    client.on('data', (c) => got.push(c));
    const gss = untyped(80877104);
    const ssl = untyped(80877103);
    // libpq's order: GSS encryption first, then TLS; the requests cut at odd places.
    client.write(gss.subarray(0, 3));
    await new Promise((r) => setTimeout(r, 20));
    client.write(Buffer.concat([gss.subarray(3), ssl.subarray(0, 4)]));
    await until(() => Buffer.concat(got).length >= 1);
    expect(Buffer.concat(got).toString()).toBe('N');
    client.write(ssl.subarray(4));
    await until(() => Buffer.concat(got).length >= 2);
    expect(Buffer.concat(got).toString()).toBe('NN');
    const startup = startupMessage();
    client.write(startup);
    await until(() => Buffer.concat(received).length >= 8 + startup.length);
    // Only the proxy's own SSLRequest, then the client's StartupMessage: its two requests never left the proxy.
    expect(Buffer.concat(received)).toEqual(Buffer.concat([ssl, startup]));
    expect(Buffer.concat(got).toString()).toBe('NN');
    expect(proxy.recording().connections[0]).toMatchObject({ kind: 'session', user: 'app', database: 'db', upstreamTls: false });
    client.destroy();
  });

  it("with sslmode disable, sends the upstream nothing before the client's StartupMessage", async () => {
    const received: Buffer[] = [];
    const port = await fakeUpstream((s) => s.on('data', (c) => received.push(c)));
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: port, upstreamTls: { mode: 'disable' } });
    const client = net.connect(proxy.port, '127.0.0.1');
    const got: Buffer[] = [];
    client.on('data', (c) => got.push(c));
    const startup = startupMessage();
    client.write(Buffer.concat([untyped(80877103), startup]));
    await until(() => Buffer.concat(received).length >= startup.length);
    expect(Buffer.concat(received)).toEqual(startup);
    expect(Buffer.concat(got).toString()).toBe('N');
    client.destroy();
  });

  it('forwards a CancelRequest after negotiating with the upstream, and survives the upstream closing', async () => {
    const received: Buffer[] = [];
    const port = await fakeUpstream((s) => {
      s.on('data', (c) => {
        received.push(c);
        if (received.length === 1) s.write('N');
        else s.end();
      });
    });
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: port });
    const cancel = untyped(80877102, Buffer.from([0, 0, 0, 42, 1, 2, 3, 4]));
    const client = net.connect(proxy.port, '127.0.0.1');
    const closed = new Promise((r) => client.on('close', r));
    client.write(cancel);
    await closed;
    expect(Buffer.concat(received)).toEqual(Buffer.concat([untyped(80877103), cancel]));
    expect(proxy.recording().connections[0]!.kind).toBe('cancel');
    await until(() => proxy!.openConnections === 0);
  });

  it('tells a client that the upstream refuses with a FATAL ErrorResponse, and keeps listening', async () => {
    const port = await fakeUpstream(() => undefined);
    await new Promise((r) => upstream.close(r));
    upstream = net.createServer();
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: port });
    for (let i = 0; i < 2; i++) {
      const client = net.connect(proxy.port, '127.0.0.1');
      const got: Buffer[] = [];
      client.on('data', (c) => got.push(c));
      client.write(startupMessage());
      await new Promise((r) => client.on('close', r));
      const reply = Buffer.concat(got);
      expect(reply.subarray(0, 1).toString()).toBe('E');
      expect(reply.readInt32BE(1)).toBe(reply.length - 1);
      expect(reply.subarray(5).toString()).toBe(
        `SFATAL\0VFATAL\0C08001\0Mctxbench proxy: cannot reach upstream 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\0\0`,
      );
    }
    await until(() => proxy!.openConnections === 0);
    expect(proxy.recording().connections).toHaveLength(2);
    expect(proxy.recording().connections[0]!.upstreamError).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });

  it('gives up on an upstream that never answers its TLS request, within the connect timeout', async () => {
    // Accepts the connection, reads the SSLRequest, never answers.
    const port = await fakeUpstream((s) => s.on('data', () => undefined));
    proxy = await startWireProxy({ upstreamHost: '127.0.0.1', upstreamPort: port, upstreamConnectTimeoutMs: 300 });
    const client = net.connect(proxy.port, '127.0.0.1');
    const got: Buffer[] = [];
    client.on('data', (c) => got.push(c));
    client.write(startupMessage());
    // Gives up rather than hangs: the test's own timeout catches a hang; no upper bound on time here.
    await new Promise((r) => client.on('close', r));
    expect(Buffer.concat(got).subarray(5).toString()).toBe(
      `SFATAL\0VFATAL\0C08001\0Mctxbench proxy: upstream 127.0.0.1:${port} did not accept the connection within 300 ms\0\0`,
    );
    await until(() => proxy!.openConnections === 0);
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('SQL literals in a recording (customer data)', () => {
  const HASHED = /^'<lit:[0-9a-f]{12}>'$/;

  it('are stored as keyed hashes, the statement keeping its shape and fingerprint; markers keep their label', async () => {
    const sent = [
      "select 'ctxbench:turn signup'",
      "select * from users where email = 'alice@example.com' and age > 98765432 /* ctxbench_turn='signup' */",
      "ALTER ROLE app PASSWORD 'hunter2'",
      "select E'sec1\\tx', $$sec2$$, $q$sec3$q$, N'sec4', B'101101110001', X'ff', -3.5e2 from t where a = $1",
    ];
    const hidden = await recordingReport(recordingOf(sent.map((sql) => stmt(1, sql, 'I'))));
    const clear = await recordingReport(recordingOf(sent.map((sql) => stmt(1, sql, 'I'))), { showContent: true });
    const json = JSON.stringify(hidden);
    for (const secret of ['alice@example.com', '98765432', 'hunter2', 'sec1', 'sec2', 'sec3', 'sec4', '101101110001', "X'ff'", '3.5e2']) {
      expect(json).not.toContain(secret);
    }
    const turn = hidden.strategies[0]!.turnDetails[0]! as unknown as { marker: { sql: string }; statements: { sql: string; fingerprint: string }[] };
    expect(turn.marker.sql).toBe("select 'ctxbench:turn signup'");
    const [select, alter, kinds] = turn.statements.map((s) => s.sql);
    const literals = (sql: string) => sql.match(/'<lit:[0-9a-f]{12}>'/g) ?? [];
    expect(select).toMatch(/^select \* from users where email = '<lit:[0-9a-f]{12}>' and age > '<lit:[0-9a-f]{12}>' \/\* ctxbench_turn='signup' \*\/$/);
    expect(alter).toMatch(/^ALTER ROLE app PASSWORD '<lit:[0-9a-f]{12}>'$/);
    expect(literals(kinds!)).toHaveLength(7);
    expect(kinds).toMatch(/^select '<lit:.*>' from t where a = \$1$/);
    for (const l of literals(kinds!)) expect(l).toMatch(HASHED);
    // The same statement shape as the SQL sent.
    expect(turn.statements.map((s) => s.fingerprint)).toEqual(
      clear.strategies[0]!.turnDetails[0]!.statements.map((s) => s.fingerprint),
    );
    expect(clear.strategies[0]!.turnDetails[0]!.statements[0]!.sql).toBe(sent[1]);
  });

  it('give the same duplicate and N+1 findings as the SQL sent, on repeated literal-only statements', async () => {
    const sent = [
      "select 'ctxbench:turn t1'",
      'select * from customers where id = 7',
      'select * from customers where id = 7',
      'select * from customers where id = 8',
      "select * from pages where url = 'https://a.example/x' limit 10",
      "select * from pages where url = 'https://a.example/y' limit 10",
      "select 'ctxbench:turn t2'",
      'select * from customers where id = 9',
      'select * from customers where id = 9',
      'select * from customers where id = 9',
    ];
    const hidden = await recordingReport(recordingOf(sent.map((sql) => stmt(1, sql, 'I'))));
    const clear = await recordingReport(recordingOf(sent.map((sql) => stmt(1, sql, 'I'))), { showContent: true });
    const summary = (r: typeof hidden) =>
      r.strategies[0]!.findings.map((f) => [f.kind, f.fingerprint, f.turns, f.statements, f.maxPerTurn, f.bytes]);
    expect(summary(hidden)).toEqual(summary(clear));
    expect(summary(hidden)).toEqual([
      ['n-plus-one', 'select * from customers where id = $1', 1, 3, 3, 180],
      ['n-plus-one', 'select * from pages where url = $1 limit $2', 1, 2, 2, 120],
      ['duplicate', 'select * from customers where id = $1', 2, 5, 3, 300],
      ['select-star', 'select * from customers where id = $1', 2, 6, 3, 360],
      ['select-star', 'select * from pages where url = $1 limit $2', 1, 2, 2, 120],
    ]);
    expect(JSON.stringify(hidden)).not.toContain('a.example');
  });
});

describe('proxy and record commands: usage errors', () => {
  async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
    const { runCli } = await import('../../src/cli/main.js');
    let stderr = '';
    const code = await runCli(args, {
      stdout: () => undefined,
      stderr: (t) => void (stderr += t),
      env,
      stdoutIsTTY: false,
      stderrIsTTY: false,
    });
    return { code, stderr };
  }

  it('rejects a missing upstream, a bad listen address and a missing command with exit 2, passwords masked', async () => {
    const noUpstream = await run(['record', '--', 'true']);
    expect(noUpstream.code).toBe(2);
    expect(noUpstream.stderr).toContain('--upstream');
    const badListen = await run([
      'proxy',
      '--upstream',
      'postgres://u:hunter2@127.0.0.1/db',
      '--listen',
      'nowhere',
      '--max-queries',
      'x',
    ]);
    expect(badListen.code).toBe(2);
    expect(badListen.stderr).toContain('--listen');
    expect(badListen.stderr).toContain('--max-queries');
    const noCommand = await run(['record', '--upstream', 'postgres://u:hunter2@127.0.0.1/db']);
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toContain('after --');
    const badUrl = await run(['record', '--upstream', 'mysql://u:hunter2@h/db', '--', 'true']);
    expect(badUrl.code).toBe(2);
    for (const r of [noUpstream, badListen, noCommand, badUrl]) expect(r.stderr).not.toContain('hunter2');
  });

  it('proxy --listen on a port already in use: exit 2 naming --listen', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const r = await run(['proxy', '--upstream', 'postgres://u:hunter2@127.0.0.1:1/db', '--listen', `127.0.0.1:${port}`]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`ctxbench: --listen: 127.0.0.1:${port} is already in use: choose another port\n`);
    } finally {
      taken.close();
    }
  });

  it('record --format json without --output says the program shares stdout with the report', async () => {
    const shared = await run(['record', '--upstream', 'postgres://u@127.0.0.1:1/db', '--format', 'json', '--', 'true']);
    expect(shared.code).toBe(0);
    expect(shared.stderr).toContain(
      "ctxbench: the program's own output and the json report both go to stdout; use --output FILE for a report file of its own",
    );
    const table = await run(['record', '--upstream', 'postgres://u@127.0.0.1:1/db', '--', 'true']);
    expect(table.code).toBe(0);
    expect(table.stderr).not.toContain('both go to stdout');
  });

  it('rejects an unknown sslmode (with the other problems) and an unreadable sslrootcert with exit 2', async () => {
    const bogus = await run(['proxy', '--upstream', 'postgres://u:hunter2@127.0.0.1/db?sslmode=bogus', '--listen', 'nowhere']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain(
      '--upstream: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, got "bogus"',
    );
    expect(bogus.stderr).toContain('--listen');
    const fromEnv = await run(['record', '--', 'true'], { DATABASE_URL: 'postgres://u:hunter2@127.0.0.1/db?sslmode=verify' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('--upstream: sslmode must be one of');
    const noCa = await run([
      'record',
      '--upstream',
      'postgres://u:hunter2@127.0.0.1/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem',
      '--',
      'true',
    ]);
    expect(noCa.code).toBe(2);
    expect(noCa.stderr).toContain('--upstream: cannot read sslrootcert "/nonexistent/ca.pem"');
    const badTimeout = await run([
      'record',
      '--upstream',
      'postgres://u:hunter2@127.0.0.1/db?connect_timeout=soon',
      '--',
      'true',
    ]);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toContain('--upstream: connect_timeout must be a whole number of seconds, got "soon"');
    for (const r of [bogus, fromEnv, noCa, badTimeout]) expect(r.stderr).not.toContain('hunter2');
  });
});

describe('upstream TLS settings from the URL', () => {
  it('reads sslmode as libpq does: prefer by default, allow as prefer, anything unknown a UsageError', async () => {
    expect(sslModeOf('postgres://h/db')).toBe('prefer');
    expect(sslModeOf('postgres://h/db?sslmode=allow')).toBe('prefer');
    for (const mode of ['disable', 'prefer', 'require', 'verify-ca', 'verify-full']) {
      expect(sslModeOf(`postgres://h/db?sslmode=${mode}`)).toBe(mode);
    }
    expect(() => sslModeOf('postgres://h/db?sslmode=Require', '--db')).toThrow(UsageError);
    expect(() => sslModeOf('postgres://h/db?sslmode=Require', '--db')).toThrow(/^--db: sslmode must be one of/);
    expect(await upstreamTlsOf('postgres://db.internal:6543/app?sslmode=verify-full')).toEqual({
      mode: 'verify-full',
      servername: 'db.internal',
    });
  });

  it('loads a client certificate from sslcert and sslkey, and refuses one without the other', async () => {
    const { readFile } = await import('node:fs/promises');
    const tls = await upstreamTlsOf(`postgres://h/db?sslcert=${tlsFixtures.clientCert}&sslkey=${tlsFixtures.clientKey}`);
    expect(tls).toEqual({
      mode: 'prefer',
      servername: 'h',
      cert: await readFile(tlsFixtures.clientCert),
      key: await readFile(tlsFixtures.clientKey),
    });
    await expect(upstreamTlsOf(`postgres://h/db?sslcert=${tlsFixtures.clientCert}`)).rejects.toThrow(
      '--upstream: give sslcert and sslkey together (the client certificate and its key)',
    );
    await expect(upstreamTlsOf('postgres://h/db?sslcert=/nonexistent/c.pem&sslkey=/nonexistent/k.pem')).rejects.toThrow(
      '--upstream: cannot read sslcert "/nonexistent/c.pem"',
    );
  });

  it("reads libpq's connect_timeout in seconds, and refuses anything but a whole number", () => {
    expect(connectTimeoutOf('postgres://h/db')).toBeUndefined();
    expect(connectTimeoutOf('postgres://h/db?connect_timeout=5')).toBe(5000);
    expect(connectTimeoutOf('postgres://h/db?connect_timeout=0')).toBe(0);
    expect(() => connectTimeoutOf('postgres://h/db?connect_timeout=soon')).toThrow(
      '--upstream: connect_timeout must be a whole number of seconds, got "soon"',
    );
  });

  it('loads sslrootcert; with it, require verifies the chain like verify-ca (as libpq does)', async () => {
    const { readFile } = await import('node:fs/promises');
    const ca = await readFile(tlsFixtures.ca);
    expect(await upstreamTlsOf(`postgres://h/db?sslmode=verify-full&sslrootcert=${encodeURIComponent(tlsFixtures.ca)}`)).toEqual({
      mode: 'verify-full',
      ca,
      servername: 'h',
    });
    expect((await upstreamTlsOf(`postgres://h/db?sslmode=require&sslrootcert=${tlsFixtures.ca}`)).mode).toBe('verify-ca');
    expect(await upstreamTlsOf('postgres://h/db?sslmode=verify-ca&sslrootcert=system')).toEqual({
      mode: 'verify-ca',
      servername: 'h',
    });
  });

  it("the command's URL points at the proxy without the upstream's TLS parameters", () => {
    expect(
      proxiedUrl(
        'postgres://u:p@db:5433/app?sslmode=verify-full&sslrootcert=%2Fca.pem&application_name=job&sslcert=c&ssl=true',
        6432,
      ),
    ).toBe('postgres://u:p@127.0.0.1:6432/app?application_name=job');
  });
});

describe('record: the program environment and Ctrl-C', () => {
  it('sets PGUSER and PGDATABASE from the upstream URL, never PGPASSWORD', async () => {
    const { record } = await import('../../src/commands/record.js');
    const result = await record({
      upstreamUrl: 'postgres://alice:s3cret@127.0.0.1:1/app%20db',
      command: ['sh', '-c', 'printf "%s|%s|%s" "$PGUSER" "$PGDATABASE" "${PGPASSWORD-unset}"'],
      env: { PATH: process.env.PATH },
      stdio: 'pipe',
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('alice|app db|unset');
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    '%s: passes it to the program, waits for it, writes what was recorded and exits 130',
    async (signal) => {
      const { emptyBackend } = await import('../support/backends.js');
      const { interruptAt } = await import('../support/cli.js');
      const { mkdtemp, readFile, rm } = await import('node:fs/promises');
      const os = await import('node:os');
      const path = await import('node:path');
      const backend = await emptyBackend('pglite');
      const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-record-'));
      try {
        const output = path.join(dir, 'r.json');
        // psql without -d: PGDATABASE/PGUSER say where. The program then waits, as a server would,
        // ignoring the signal for SIGTERM so that ctxbench must end it with SIGKILL.
        const script = `${signal === 'SIGTERM' ? 'trap "" TERM; ' : ''}psql -X -q -c 'select 1' -c 'select 2' && echo 'record-test: queried' >&2 && exec sleep 60`;
        const r = await interruptAt(
          // --show-content: the statements' SQL as sent (literals are hashed otherwise).
          ['record', '--show-content', '--upstream', backend.url, '--output', output, '--', 'sh', '-c', script],
          'record-test: queried',
          signal,
        );
        expect(r.sent).toBe(true);
        expect(r.code).toBe(130);
        expect(r.stderr).toContain(`ctxbench: wrote the recording to ${output}`);
        expect(r.stderr).toContain('ctxbench: interrupted: the report covers what the program sent until it exited');
        const report = JSON.parse(await readFile(output, 'utf8'));
        expect(report.interrupted).toBe(true);
        const sql = report.strategies[0].turnDetails.flatMap((t: { statements: { sql: string }[] }) => t.statements.map((s) => s.sql));
        expect(sql).toEqual(['select 1', 'select 2']);
      } finally {
        await rm(dir, { recursive: true, force: true });
        await backend.close();
      }
    },
  );
});
