/**
 * The recording proxy terminates TLS: plaintext towards its clients (it answers their
 * SSLRequest with N itself), TLS towards the upstream as the upstream URL's sslmode says. The
 * upstream is a TLS-fronted real database (test/support/tls-postgres.ts) over PGlite and, when
 * CTXBENCH_TEST_DATABASE_URL is set, PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { proxiedUrl, record, serveProxy, upstreamOf, upstreamTlsOf } from '../../src/commands/record.js';
import { startWireProxy, type ProxiedStatement, type WireProxy } from '../../src/core/net/wire-proxy.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';
import { startTlsPostgres, tlsFixtures, type TlsPostgres } from '../support/tls-postgres.js';

const execFileAsync = promisify(execFile);

/** A proxy in front of `url`, TLS towards it as its sslmode says (what `ctxbench proxy` does). */
async function proxyFor(url: string): Promise<WireProxy> {
  const { host, port } = upstreamOf(url);
  return startWireProxy({ upstreamHost: host, upstreamPort: port, upstreamTls: await upstreamTlsOf(url) });
}

/** Runs `select 1` and a parameterised query through `proxy` with a plaintext pg client. */
async function twoQueries(proxy: WireProxy, databaseUrl: string): Promise<ProxiedStatement[]> {
  const client = new pg.Client({ connectionString: proxiedUrl(databaseUrl, proxy.port), ssl: false });
  await client.connect();
  try {
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    expect((await client.query('select $1::int + 1 as n', [41])).rows).toEqual([{ n: 42 }]);
  } finally {
    await client.end();
  }
  await until(() => proxy.openConnections === 0);
  return proxy.recording().statements;
}

/** What a statement's measurement must not depend on: how the proxy reached the server. */
function figures(s: ProxiedStatement) {
  return { sql: s.sql, rows: s.rows, wireBytes: s.wireBytes, payloadBytes: s.payloadBytes, command: s.command, error: s.error };
}

/** The error a plaintext pg client gets when it connects through `proxy`. */
async function connectError(proxy: WireProxy, databaseUrl: string): Promise<Error & { code?: string; severity?: string }> {
  const client = new pg.Client({ connectionString: proxiedUrl(databaseUrl, proxy.port), ssl: false });
  try {
    await client.connect();
  } catch (error) {
    return error as Error & { code?: string };
  }
  await client.end();
  throw new Error('connected, but an error was expected');
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.each(backendKinds)('TLS towards the upstream, on %s', (kind) => {
  let backend: TestBackend;
  let shim: TlsPostgres;
  let proxy: WireProxy | undefined;
  beforeAll(async () => {
    backend = await emptyBackend(kind);
    shim = await startTlsPostgres(backend.url, 'tls');
    // The first statement a fresh PGlite runs brings extra messages: run it here, so that the
    // comparisons below compare like with like.
    const warm = new pg.Client({ connectionString: backend.url });
    await warm.connect();
    await warm.query('select 1');
    await warm.end();
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(async () => {
    await shim?.close();
    await backend?.close();
  });

  it('sslmode=require: the statements are recorded with the figures of a plaintext upstream', async () => {
    proxy = await proxyFor(backend.url);
    const plain = await twoQueries(proxy, backend.url);
    expect(proxy.recording().connections.map((c) => c.upstreamTls)).toEqual([false]);
    await proxy.close();

    const before = { ...shim.sessions };
    proxy = await proxyFor(shim.urlFor(backend.url, { sslmode: 'require' }));
    const secured = await twoQueries(proxy, backend.url);
    expect(secured.map((s) => s.sql)).toEqual(['select 1 as one', 'select $1::int + 1 as n']);
    expect(secured.map(figures)).toEqual(plain.map(figures));
    expect(secured[0]).toMatchObject({ rows: 1, payloadBytes: 1, command: 'SELECT 1' });
    expect(proxy.recording().connections).toHaveLength(1);
    expect(proxy.recording().connections[0]).toMatchObject({
      kind: 'session',
      upstreamTls: true,
      upstreamError: null,
      statements: 2,
    });
    expect(shim.sessions).toEqual({ tls: before.tls + 1, plain: before.plain });
  });

  it('without sslmode (prefer), uses TLS when the server offers it and plaintext when it does not', async () => {
    const before = { ...shim.sessions };
    proxy = await proxyFor(shim.urlFor(backend.url));
    expect(await twoQueries(proxy, backend.url)).toHaveLength(2);
    expect(proxy.recording().connections[0]).toMatchObject({ upstreamTls: true, statements: 2 });
    expect(shim.sessions).toEqual({ tls: before.tls + 1, plain: before.plain });
    await proxy.close();

    // The backend itself has no TLS (PGlite never; the test server has ssl=off): it answers N.
    proxy = await proxyFor(backend.url);
    expect(await twoQueries(proxy, backend.url)).toHaveLength(2);
    expect(proxy.recording().connections[0]).toMatchObject({ upstreamTls: false, statements: 2, upstreamError: null });
    await proxy.close();

    // sslmode=disable: not even asked.
    const requests = shim.sslRequests;
    proxy = await proxyFor(shim.urlFor(backend.url, { sslmode: 'disable' }));
    expect(await twoQueries(proxy, backend.url)).toHaveLength(2);
    expect(proxy.recording().connections[0]).toMatchObject({ upstreamTls: false, statements: 2 });
    expect(shim.sslRequests).toBe(requests);
    expect(shim.sessions.plain).toBe(before.plain + 1);
  });

  it('verify-full and verify-ca with sslrootcert accept the certificate of the test CA', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const url = new URL(shim.urlFor(backend.url, { sslmode: 'verify-full', sslrootcert: tlsFixtures.ca }));
      url.hostname = host;
      proxy = await proxyFor(url.toString());
      expect(await twoQueries(proxy, backend.url)).toHaveLength(2);
      expect(proxy.recording().connections[0]).toMatchObject({ upstreamTls: true, upstreamError: null });
      await proxy.close();
    }
    // A certificate that does not name the host: verify-ca accepts it, verify-full does not.
    const { readFile } = await import('node:fs/promises');
    const ca = await readFile(tlsFixtures.ca);
    proxy = await startWireProxy({
      upstreamHost: '127.0.0.1',
      upstreamPort: shim.port,
      upstreamTls: { mode: 'verify-ca', ca, servername: 'db.example.com' },
    });
    expect(await twoQueries(proxy, backend.url)).toHaveLength(2);
    await proxy.close();
    proxy = await startWireProxy({
      upstreamHost: '127.0.0.1',
      upstreamPort: shim.port,
      upstreamTls: { mode: 'verify-full', ca, servername: 'db.example.com' },
    });
    const error = await connectError(proxy, backend.url);
    expect(error.code).toBe('08001');
    expect(error.message).toMatch(
      /^ctxbench proxy: upstream 127\.0\.0\.1:\d+: TLS certificate rejected \(sslmode=verify-full\): .*db\.example\.com/,
    );
  });

  it('verify-full with an unrelated CA: the client gets a FATAL 08001 error, and the proxy serves the next client', async () => {
    proxy = await proxyFor(shim.urlFor(backend.url, { sslmode: 'verify-full', sslrootcert: tlsFixtures.otherCa }));
    const before = { ...shim.sessions };
    for (let i = 0; i < 2; i++) {
      const error = await connectError(proxy, backend.url);
      expect(error.code).toBe('08001');
      expect(error.severity).toBe('FATAL');
      expect(error.message).toContain('certificate');
      expect(error.message).toBe(
        `ctxbench proxy: upstream 127.0.0.1:${shim.port}: TLS certificate rejected (sslmode=verify-full): UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
      );
    }
    await until(() => proxy!.openConnections === 0);
    const connections = proxy.recording().connections;
    expect(connections).toHaveLength(2);
    for (const c of connections) {
      expect(c).toMatchObject({ kind: 'session', upstreamTls: false, statements: 0 });
      expect(c.upstreamError).toContain('certificate rejected');
      expect(c.closedAt).not.toBeNull();
    }
    expect(connections[0]!.user).toBe(new URL(backend.url).username);
    // Rejected before the backend was reached: nothing was sent through the TLS session.
    expect(shim.sessions).toEqual(before);
  });

  it('a server that asks for a client certificate: sslcert/sslkey are presented; without them, no session', async () => {
    const strict = await startTlsPostgres(backend.url, 'tls', { requireClientCertFrom: tlsFixtures.clientCa });
    try {
      proxy = await proxyFor(
        strict.urlFor(backend.url, { sslmode: 'require', sslcert: tlsFixtures.clientCert, sslkey: tlsFixtures.clientKey }),
      );
      const statements = await twoQueries(proxy, backend.url);
      expect(statements.map((s) => s.sql)).toEqual(['select 1 as one', 'select $1::int + 1 as n']);
      expect(proxy.recording().connections[0]).toMatchObject({ upstreamTls: true, upstreamError: null });
      await proxy.close();
      // Without a certificate the server ends the session with a TLS alert: the client reads why.
      proxy = await proxyFor(strict.urlFor(backend.url, { sslmode: 'require' }));
      const error = await connectError(proxy, backend.url);
      expect(error.code).toBe('08001');
      expect(error.message).toMatch(
        new RegExp(
          `^ctxbench proxy: upstream 127\\.0\\.0\\.1:${strict.port} ended the session before it started: .*certificate required`,
        ),
      );
      await until(() => proxy!.openConnections === 0);
      expect(proxy.recording().connections[0]!.upstreamError).toMatch(/certificate required/);
      expect(strict.sessions.tls).toBe(1);
    } finally {
      await strict.close();
    }
  });

  it('prefer (the default) retries in plaintext when the TLS handshake fails, as libpq does; require does not', async () => {
    const broken = await startTlsPostgres(backend.url, 'broken-tls');
    try {
      proxy = await proxyFor(broken.urlFor(backend.url));
      const statements = await twoQueries(proxy, backend.url);
      expect(statements.map((s) => s.sql)).toEqual(['select 1 as one', 'select $1::int + 1 as n']);
      expect(proxy.recording().connections[0]).toMatchObject({ upstreamTls: false, upstreamError: null });
      // One TLS attempt, then the session over a new plaintext connection.
      expect([broken.sslRequests, broken.sessions.plain, broken.sessions.tls]).toEqual([1, 1, 0]);
      await proxy.close();
      proxy = await proxyFor(broken.urlFor(backend.url, { sslmode: 'require' }));
      const error = await connectError(proxy, backend.url);
      expect(error.code).toBe('08001');
      expect(error.message).toMatch(/^ctxbench proxy: TLS handshake with upstream 127\.0\.0\.1:\d+ failed: /);
      expect(broken.sessions.plain).toBe(1);
    } finally {
      await broken.close();
    }
  });

  it('psql with sslmode=prefer through the proxy in front of the TLS server', async () => {
    proxy = await proxyFor(shim.urlFor(backend.url, { sslmode: 'require' }));
    const url = new URL(backend.url);
    const conninfo = (sslmode: string) =>
      `host=127.0.0.1 port=${proxy!.port} user=${url.username} dbname=${url.pathname.slice(1)} sslmode=${sslmode}`;
    const env = { ...process.env, PGPASSWORD: decodeURIComponent(url.password), PGSSLMODE: undefined };
    const { stdout } = await execFileAsync('psql', ['-X', '-Atc', 'select 42', conninfo('prefer')], { env });
    expect(stdout).toBe('42\n');
    await until(() => proxy!.openConnections === 0);
    expect(proxy.recording().statements.map((s) => [s.sql, s.rows])).toEqual([['select 42', 1]]);
    expect(proxy.recording().connections[0]).toMatchObject({ kind: 'session', application: 'psql', upstreamTls: true });
    // A client that insists on TLS hears what a server without TLS says.
    const refused = await execFileAsync('psql', ['-X', '-Atc', 'select 43', conninfo('require')], { env }).then(
      () => null,
      (error: { stderr: string }) => error.stderr,
    );
    expect(refused).toMatch(/server does not support SSL, but SSL was required/);
    expect(proxy.recording().statements).toHaveLength(1);
  });

  it('record: the command reaches a verify-full upstream through a plaintext DATABASE_URL', async () => {
    const upstreamUrl = shim.urlFor(backend.url, { sslmode: 'verify-full', sslrootcert: tlsFixtures.ca });
    const { report, exitCode, stdout, stderr } = await record({
      upstreamUrl,
      command: ['sh', '-c', 'psql -X -Atc "select 7" "$DATABASE_URL" && printf %s "$DATABASE_URL"'],
      env: { ...process.env, PGSSLMODE: undefined, PGPASSWORD: decodeURIComponent(new URL(backend.url).password) },
      stdio: 'pipe',
    });
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    expect(stdout.startsWith('7\n')).toBe(true);
    expect(stdout).not.toMatch(/ssl/);
    expect(report.strategies[0]!.totals.queries).toBe(1);
    expect(report.recording.connections).toEqual([
      expect.objectContaining({ kind: 'session', upstreamTls: true, upstreamError: null }),
    ]);
  });

  it('serveProxy with sslmode=verify-full reports the statements of a TLS upstream', async () => {
    const stop = new AbortController();
    let port = 0;
    let listened: () => void = () => undefined;
    const listening = new Promise<void>((resolve) => (listened = resolve));
    const pending = serveProxy({
      upstreamUrl: shim.urlFor(backend.url, { sslmode: 'verify-full', sslrootcert: tlsFixtures.ca }),
      signal: stop.signal,
      onListening: (p) => {
        port = p.port;
        listened();
      },
    });
    await listening;
    const client = new pg.Client({ connectionString: proxiedUrl(backend.url, port), ssl: false });
    await client.connect();
    await client.query('select 1');
    await client.end();
    stop.abort();
    const report = await pending;
    expect(report.strategies[0]!.totals.queries).toBe(1);
    expect(report.recording.connections.map((c) => c.upstreamTls)).toEqual([true]);
  });
});

describe('TLS towards an upstream that does not accept it', () => {
  let shim: TlsPostgres | undefined;
  let proxy: WireProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await shim?.close();
    proxy = shim = undefined;
  });
  // The shim never reaches a backend here: an unused address is enough.
  const nowhere = 'postgres://app:hunter2@127.0.0.1:9/app';

  it('sslmode=require against a server that answers N: FATAL 08001 naming TLS and the sslmode', async () => {
    shim = await startTlsPostgres(nowhere, 'plain');
    proxy = await proxyFor(shim.urlFor(nowhere, { sslmode: 'require' }));
    const error = await connectError(proxy, nowhere);
    expect(error.code).toBe('08001');
    expect(error.message).toBe(`ctxbench proxy: upstream 127.0.0.1:${shim.port} does not accept TLS (sslmode=require)`);
    await until(() => proxy!.openConnections === 0);
    expect(proxy.recording().connections[0]).toMatchObject({
      kind: 'session',
      user: 'app',
      database: 'app',
      upstreamTls: false,
      upstreamError: `upstream 127.0.0.1:${shim.port} does not accept TLS (sslmode=require)`,
    });
    expect(shim.sessions).toEqual({ tls: 0, plain: 0 });
  });

  it('a server that closes instead of answering the TLS request, and one that is not there', async () => {
    shim = await startTlsPostgres(nowhere, 'close');
    proxy = await proxyFor(shim.urlFor(nowhere));
    const closed = await connectError(proxy, nowhere);
    expect(closed.code).toBe('08001');
    expect(closed.message).toMatch(/^ctxbench proxy: upstream 127\.0\.0\.1:\d+ failed during TLS negotiation/);
    await proxy.close();
    proxy = await proxyFor(nowhere);
    const refused = await connectError(proxy, nowhere);
    expect(refused.code).toBe('08001');
    expect(refused.message).toMatch(/^ctxbench proxy: cannot reach upstream 127\.0\.0\.1:9: connect ECONNREFUSED/);
    expect(JSON.stringify(proxy.recording())).not.toContain('hunter2');
  });
});
