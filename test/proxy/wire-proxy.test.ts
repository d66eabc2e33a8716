/**
 * The recording proxy against real databases: what it measures per statement equals what the
 * in-process instrumentation measures on the same client socket, on PGlite and (when
 * CTXBENCH_TEST_DATABASE_URL is set) PostgreSQL; psql, `ctxbench record`, and a client that
 * disconnects mid-result on the real server.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { proxiedUrl, recordingReport, serveProxy, upstreamOf } from '../../src/commands/record.js';
import { startWireProxy, type WireProxy } from '../../src/core/net/wire-proxy.js';
import { Recorder } from '../../src/core/recorder.js';
import type { Report } from '../../src/report/model.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';
import { describeIf, NEEDS_SERVER } from '../support/skip.js';

const execFileAsync = promisify(execFile);
const serverUrl = process.env.CTXBENCH_TEST_DATABASE_URL;

function socketOf(client: pg.Client): Duplex {
  return (client as unknown as { connection: { stream: Duplex } }).connection.stream;
}

/** The figures both instruments must agree on. */
function figures(s: {
  sql: string;
  rows: number;
  wireBytes: number;
  sentBytes: number;
  payloadBytes: number;
  command: string | null;
}) {
  return {
    sql: s.sql,
    rows: s.rows,
    wireBytes: s.wireBytes,
    sentBytes: s.sentBytes,
    payloadBytes: s.payloadBytes,
    command: s.command,
  };
}

async function startProxyFor(url: string): Promise<WireProxy> {
  const { host, port } = upstreamOf(url);
  return startWireProxy({ upstreamHost: host, upstreamPort: port });
}

describe.each(backendKinds)('wire proxy on %s', (kind) => {
  let backend: TestBackend;
  let proxy: WireProxy;
  beforeAll(async () => {
    backend = await emptyBackend(kind);
    proxy = await startProxyFor(backend.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await backend?.close();
  });

  /** Runs `work` on a pg client connected through the proxy, tapped by a Recorder too; returns both measurements. */
  async function measureBoth(work: (client: pg.Client) => Promise<void>) {
    const client = new pg.Client({ connectionString: proxiedUrl(backend.url, proxy.port) });
    await client.connect();
    const connectionId = proxy.recording().connections.at(-1)!.id;
    const recorder = new Recorder();
    recorder.attach(socketOf(client));
    const recording = recorder.start();
    try {
      await work(client);
      await recording.settle();
    } finally {
      await client.end();
    }
    const inProcess = recording.stop();
    const proxied = proxy.recording().statements.filter((s) => s.connectionId === connectionId);
    return { inProcess, proxied };
  }

  it('measures simple and extended-protocol statements exactly as the in-process recorder does', async () => {
    const { inProcess, proxied } = await measureBoth(async (client) => {
      expect((await client.query('select 1 as a')).rows).toEqual([{ a: 1 }]);
      expect((await client.query('select $1::text as t', ['secret-value'])).rows).toEqual([{ t: 'secret-value' }]);
      const named = { name: 'plus_one', text: 'select $1::int + 1 as n', values: [41] };
      expect((await client.query(named)).rows).toEqual([{ n: 42 }]);
      expect((await client.query({ ...named, values: [1] })).rows).toEqual([{ n: 2 }]);
      const many = await client.query("select g, repeat('y', g) as r from generate_series(1, 300) g");
      expect(many.rowCount).toBe(300);
      await client.query('select nope').catch(() => undefined);
    });
    expect(proxied).toHaveLength(6);
    expect(proxied.map(figures)).toEqual(inProcess.map(figures));
    expect(proxied[3]!.sql).toBe('select $1::int + 1 as n');
    expect(proxied[5]!.error).toMatch(/nope/);
    // Parameter values never reach the recording: equal values hash equally, nothing more.
    expect(JSON.stringify(proxied)).not.toContain('secret-value');
    expect(proxied[1]!.params[0]).toMatch(/^<param:[0-9a-f]{12}>$/);
  });

  it('hashes short and long parameter values alike, equal values equally, before anything reads them', async () => {
    const long = 'L'.repeat(5000);
    const { proxied } = await measureBoth(async (client) => {
      for (const value of ['short-secret', long, 'short-secret', long])
        await client.query('select length($1::text) as n', [value]);
    });
    const text = JSON.stringify(proxied);
    expect(text).not.toContain('short-secret');
    expect(text).not.toContain('LLLL');
    const hashes = proxied.map((s) => s.params[0]);
    expect(hashes.every((h) => /^<param:[0-9a-f]{12}>$/.test(h!))).toBe(true);
    expect([hashes[0] === hashes[2], hashes[1] === hashes[3], hashes[0] === hashes[1]]).toEqual([true, true, false]);
  });

  it('streams a 10 MB result and measures it exactly', async () => {
    const { inProcess, proxied } = await measureBoth(async (client) => {
      const r = await client.query("select repeat('x', 10*1024*1024) as big");
      expect((r.rows[0] as { big: string }).big.length).toBe(10 * 1024 * 1024);
    });
    expect(proxied).toHaveLength(1);
    expect(proxied.map(figures)).toEqual(inProcess.map(figures));
    expect(proxied[0]!.payloadBytes).toBe(10 * 1024 * 1024);
    expect(proxied[0]!.wireBytes).toBeGreaterThan(10 * 1024 * 1024);
  });

  it('serveProxy runs until aborted, then reports what went through it', async () => {
    const stop = new AbortController();
    let port = 0;
    let listened: () => void = () => undefined;
    const listening = new Promise<void>((resolve) => (listened = resolve));
    const pending = serveProxy({
      upstreamUrl: backend.url,
      signal: stop.signal,
      name: 'app',
      onListening: (p) => {
        port = p.port;
        listened();
      },
    });
    await listening;
    const client = new pg.Client({ connectionString: proxiedUrl(backend.url, port) });
    await client.connect();
    await client.query('select 1');
    await client.query('select 2');
    await client.end();
    stop.abort();
    const report = await pending;
    expect(report.strategies[0]!.name).toBe('app');
    expect(report.strategies[0]!.totals.queries).toBe(2);
    expect(report.recording.connections).toHaveLength(1);
  });

  it('groups by marker statements when the application sends them', async () => {
    const { proxied } = await measureBoth(async (client) => {
      await client.query("select 'ctxbench:turn first'");
      await client.query('select 1');
      await client.query('select 2');
      await client.query("select 'ctxbench:turn second'");
      await client.query('select 3');
    });
    const report = await recordingReport({ ...proxy.recording(), statements: proxied });
    expect(report.strategies[0]!.turnDetails.map((t) => [t.turn, t.queries])).toEqual([
      ['first', 2],
      ['second', 1],
    ]);
  });
});

describeIf(serverUrl, NEEDS_SERVER)('wire proxy on a real PostgreSQL server', () => {
  let proxy: WireProxy;
  beforeAll(async () => {
    proxy = await startProxyFor(serverUrl!);
  });
  afterAll(async () => {
    await proxy?.close();
  });

  function psqlArgs(...commands: string[]): string[] {
    const url = new URL(serverUrl!);
    const args = [
      '-X',
      '-At',
      '-h',
      '127.0.0.1',
      '-p',
      String(proxy.port),
      '-U',
      decodeURIComponent(url.username || 'postgres'),
      '-d',
      url.pathname.slice(1) || 'postgres',
    ];
    for (const c of commands) args.push('-c', c);
    return args;
  }

  it('psql through the proxy returns the right rows, and the proxy records its statements', async () => {
    const before = proxy.recording().statements.length;
    const env = { ...process.env, PGSSLMODE: 'disable', PGPASSWORD: decodeURIComponent(new URL(serverUrl!).password) };
    const { stdout } = await execFileAsync(
      'psql',
      psqlArgs('select 1', '\\copy (select g from generate_series(1, 5) g) to stdout'),
      { env },
    );
    expect(stdout).toBe('1\n1\n2\n3\n4\n5\n');
    const statements = proxy.recording().statements.slice(before);
    expect(statements.map((s) => s.command)).toEqual(['SELECT 1', 'COPY 5']);
    expect(statements[0]).toMatchObject({ sql: 'select 1', rows: 1, payloadBytes: 1, status: 'I' });
    // COPY TO STDOUT: a CopyData message per row; payload is the row text ("1\n" … "5\n").
    expect(statements[1]).toMatchObject({ rows: 5, payloadBytes: 10 });
    expect(proxy.recording().connections.at(-1)).toMatchObject({ kind: 'session', upstreamTls: false, application: 'psql' });
    // sslmode=prefer: the proxy answers the SSLRequest with N itself, and psql goes on in plaintext.
    const preferred = await execFileAsync('psql', psqlArgs('select 3'), { env: { ...env, PGSSLMODE: 'prefer' } });
    expect(preferred.stdout).toBe('3\n');
    expect(proxy.recording().statements.at(-1)).toMatchObject({ sql: 'select 3', rows: 1 });
  });

  it('forwards the cancel request of psql (Ctrl-C): the server cancels, the proxy records the cancelled statement', async () => {
    const env = { ...process.env, PGSSLMODE: 'disable', PGPASSWORD: decodeURIComponent(new URL(serverUrl!).password) };
    const child = spawn('psql', psqlArgs('select pg_sleep(30)'), { env });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const deadline = Date.now() + 10_000;
    while (!proxy.recording().statements.some((s) => s.sql === 'select pg_sleep(30)') && Date.now() < deadline) {
      // The statement is recorded only when it ends: wait until the server is running it.
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      const { rows } = await admin.query(
        `select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'`,
      );
      await admin.end();
      if (rows[0].n > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(stderr).toContain('canceling statement due to user request');
    expect(code).not.toBe(0);
    const cancelled = proxy.recording().statements.find((s) => s.sql === 'select pg_sleep(30)');
    expect(cancelled?.error).toMatch(/canceling statement due to user request/);
    expect(proxy.recording().connections.some((c) => c.kind === 'cancel')).toBe(true);
  });

  it('survives a client that disconnects mid-result, and serves the next client', async () => {
    const client = new pg.Client({
      connectionString: proxiedUrl(serverUrl!, proxy.port),
      application_name: 'ctxbench_midresult',
    });
    await client.connect();
    client.on('error', () => undefined);
    const socket = socketOf(client);
    let received = 0;
    const cut = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 1024 * 1024) {
          socket.destroy();
          resolve();
        }
      });
    });
    const failed = client.query("select repeat('x', 1024*1024) from generate_series(1, 500)").then(
      () => 'completed',
      () => 'failed',
    );
    await cut;
    expect(await failed).toBe('failed');

    const next = new pg.Client({ connectionString: proxiedUrl(serverUrl!, proxy.port) });
    await next.connect();
    try {
      expect((await next.query('select 2 as n')).rows).toEqual([{ n: 2 }]);
      // The upstream side of the dropped client was destroyed: its backend goes away too.
      const deadline = Date.now() + 10_000;
      let left = 1;
      while (left > 0 && Date.now() < deadline) {
        const r = await next.query(
          "select count(*)::int as n from pg_stat_activity where application_name = 'ctxbench_midresult'",
        );
        left = (r.rows[0] as { n: number }).n;
        if (left > 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(left).toBe(0);
    } finally {
      await next.end();
    }
    const dropped = proxy.recording().connections.find((c) => c.application === 'ctxbench_midresult')!;
    expect(dropped.closedAt).not.toBeNull();
    expect(dropped.abandoned).toBe(1);
  });

  it("ctxbench record -- node script.js reports the script's statements and exits with its code", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-record-'));
    try {
      const pgPath = createRequire(import.meta.url).resolve('pg');
      const script = path.join(dir, 'script.cjs');
      await writeFile(
        script,
        `const pg = require(${JSON.stringify(pgPath)});
(async () => {
  if (process.env.PGHOST !== '127.0.0.1' || !process.env.PGPORT) process.exit(99);
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  await client.query('select 1 as one');
  await client.query('begin');
  for (let i = 0; i < 3; i++) await client.query('select $1::int as id', [i]);
  await client.query('commit');
  await client.end();
  process.exit(7);
})().catch((e) => { console.error(e); process.exit(98); });
`,
      );
      const output = path.join(dir, 'recording.json');
      let stdout = '';
      let stderr = '';
      const io: CliIo = {
        stdout: (t) => void (stdout += t),
        stderr: (t) => void (stderr += t),
        env: { DATABASE_URL: serverUrl },
        stdoutIsTTY: false,
        stderrIsTTY: false,
      };
      const code = await runCli(
        ['record', '--format', 'json', '--output', output, '--max-queries', '10', '--', process.execPath, script],
        io,
      );
      expect(stderr).not.toContain('internal error');
      expect(code).toBe(7);
      const report = JSON.parse(stdout) as Report;
      const s = report.strategies[0]!;
      expect(s.name).toBe('recording');
      expect(s.turnDetails.map((t) => t.queries)).toEqual([1, 5]);
      expect(s.turnDetails[1]!.statements.map((x) => x.sql)).toEqual([
        'begin',
        'select $1::int as id',
        'select $1::int as id',
        'select $1::int as id',
        'commit',
      ]);
      expect(s.findings.some((f) => f.kind === 'n-plus-one')).toBe(true);
      expect(report.budget?.passed).toBe(true);
      expect(JSON.parse(await readFile(output, 'utf8'))).toEqual(report);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("record -- psql -c \"select 'alice@…'\": the report holds a keyed hash, not the address (unless --show-content)", async () => {
    const run = async (extra: string[]) => {
      let stdout = '';
      let stderr = '';
      const io: CliIo = {
        stdout: (t) => void (stdout += t),
        stderr: (t) => void (stderr += t),
        env: { DATABASE_URL: serverUrl, PGPASSWORD: decodeURIComponent(new URL(serverUrl!).password) },
        stdoutIsTTY: false,
        stderrIsTTY: false,
      };
      const args = ['record', '--format', 'json', ...extra, '--', 'sh', '-c'];
      args.push(`psql -X -At -c "select 'alice@example.com' as email, 4242 as n" -c "select 'ctxbench:turn x'" "$DATABASE_URL" >/dev/null`);
      const code = await runCli(args, io);
      expect(stderr).not.toContain('internal error');
      expect(code).toBe(0);
      return JSON.parse(stdout) as Report;
    };
    const hidden = await run([]);
    const [first] = hidden.strategies[0]!.turnDetails[0]!.statements;
    expect(first!.sql).toMatch(/^select '<lit:[0-9a-f]{12}>' as email, '<lit:[0-9a-f]{12}>' as n$/);
    expect(first!.fingerprint).toBe('select $1 as email, $2 as n');
    expect(JSON.stringify(hidden)).not.toContain('alice@example.com');
    expect(JSON.stringify(hidden)).not.toContain('4242');
    expect(hidden.strategies[0]!.turnDetails.map((t) => t.turn)).toEqual(['(before first marker)', 'x']);
    const shown = await run(['--show-content']);
    expect(shown.strategies[0]!.turnDetails[0]!.statements[0]!.sql).toBe("select 'alice@example.com' as email, 4242 as n");
  });

  it('record: a server error quoting a value holds the same keyed hash as the literal it came from (unless --show-content)', async () => {
    const script = `psql -X -At -c "select 'bob@example.com'::int" "$DATABASE_URL" >/dev/null 2>&1; true`;
    const hidden = await recordCli(['--format', 'json'], script);
    expect(hidden.code).toBe(0);
    const [failed] = (JSON.parse(hidden.stdout) as Report).strategies[0]!.turnDetails[0]!.statements;
    const literal = /'(<lit:[0-9a-f]{12}>)'/.exec(failed!.sql)![1];
    expect(failed!.error).toBe(`invalid input syntax for type integer: "${literal}" (SQLSTATE 22P02)`);
    expect(hidden.stdout).not.toContain('bob@example.com');
    const shown = await recordCli(['--format', 'json', '--show-content'], script);
    expect((JSON.parse(shown.stdout) as Report).strategies[0]!.turnDetails[0]!.statements[0]!.error).toBe(
      'invalid input syntax for type integer: "bob@example.com" (SQLSTATE 22P02)',
    );
  });

  /** `ctxbench record …flags -- sh -c script` in process: exit code, stdout, stderr. */
  async function recordCli(flags: string[], script: string) {
    let stdout = '';
    let stderr = '';
    const io: CliIo = {
      stdout: (t) => void (stdout += t),
      stderr: (t) => void (stderr += t),
      env: { DATABASE_URL: serverUrl, PGPASSWORD: decodeURIComponent(new URL(serverUrl!).password) },
      stdoutIsTTY: false,
      stderrIsTTY: false,
    };
    const code = await runCli(['record', ...flags, '--', 'sh', '-c', script], io);
    expect(stderr).not.toContain('internal error');
    return { code, stdout, stderr };
  }

  it('a backend terminated by pg_terminate_backend: its statement is counted with the FATAL error, not "could not reach the upstream"', async () => {
    const r = await recordCli([], 'psql -X -At -c "select 1" -c "select pg_terminate_backend(pg_backend_pid())" "$DATABASE_URL"');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'ctxbench: the server ended a session (terminating connection due to administrator command (SQLSTATE 57P01))',
    );
    expect(r.stderr).not.toContain('could not reach');
    expect(r.stdout).toMatch(/│ queries\/turn +│ +1 │/);
    expect(r.stdout).toMatch(/│ failed statements +│ +1 │/);
    expect(r.stdout).toContain('2 queries, 2 round trips');
    expect(r.stdout).toContain('terminating connection due to administrator command (SQLSTATE 57P01)  select pg_terminate_backend(pg_backend_pid())');
  });

  it('an idle session terminated from another connection is reported as ended by the server', async () => {
    const before = proxy.recording().connections.length;
    const victim = new pg.Client({ connectionString: proxiedUrl(serverUrl!, proxy.port), application_name: 'ctxbench_victim' });
    victim.on('error', () => undefined);
    await victim.connect();
    const ended = new Promise<void>((r) => victim.on('end', () => r()));
    const killer = new pg.Client({ connectionString: serverUrl });
    await killer.connect();
    try {
      const { rows } = await killer.query(
        "select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = 'ctxbench_victim'",
      );
      expect(rows).toEqual([{ done: true }]);
    } finally {
      await killer.end();
    }
    await ended;
    const deadline = Date.now() + 5000;
    while (proxy.recording().connections[before]?.closedAt == null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(proxy.recording().connections[before]).toMatchObject({
      application: 'ctxbench_victim',
      upstreamError: null,
      terminated: 'terminating connection due to administrator command (SQLSTATE 57P01)',
      closedBy: 'server',
      statements: 0,
      abandoned: 0,
    });
  });

  it('record --max-message-bytes refuses a larger Query with SQLSTATE 54000 and reports it', async () => {
    const psqlErr = path.join(os.tmpdir(), `ctxbench-maxmsg-${process.pid}-${Date.now()}.txt`);
    const r = await recordCli(
      ['--max-message-bytes', '4096', '--format', 'json'],
      `psql -X -At -c "select '${'x'.repeat(5000)}'" "$DATABASE_URL" 2>"${psqlErr}"`,
    );
    expect(r.code).toBe(2);
    // psql read the proxy's ErrorResponse.
    expect(await readFile(psqlErr, 'utf8')).toContain("a 5015-byte message is over the proxy's limit of 4096 bytes (--max-message-bytes)");
    await rm(psqlErr, { force: true });
    expect(r.stderr).toContain('ctxbench: 1 connection closed for sending a message over --max-message-bytes (5015 bytes)');
    const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as Report & { recording: { connections: { refusedMessageBytes: number | null }[] } };
    expect(report.recording.connections.map((c) => c.refusedMessageBytes)).toEqual([5015]);
    expect(report.strategies[0]!.totals.queries).toBe(0);
  });

  it('rejects a --max-message-bytes that is not a size of at least 1024 bytes, with exit 2', async () => {
    const r = await recordCli(['--max-message-bytes', '12'], 'true');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ctxbench: --max-message-bytes: expected a size of at least 1024 bytes (e.g. 1048576, 16MiB), got "12"\n');
  });
});
