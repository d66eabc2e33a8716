/**
 * Pipelines and function calls through the recording proxy, from programs that are not ctxbench:
 * a hand-built pipeline (compared with the in-process tracker on the same socket), libpq's
 * pipeline mode in pgbench (a C program: its own count of what it ran is the reference), and
 * psql's large-object export, which libpq sends as FunctionCall messages.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { record, upstreamOf, type RecordedTurn } from '../../src/commands/record.js';
import { budgetFromLimits } from '../../src/core/budget.js';
import { startWireProxy, type WireProxy } from '../../src/core/net/wire-proxy.js';
import { tapSocket } from '../../src/core/wire/socket-tap.js';
import { StatementTracker, type TrackedStatement } from '../../src/core/wire/statement-tracker.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';
import { extended, rawSession, readUntilReady, sync } from '../support/wire-messages.js';
import { describeIf, NEEDS_SERVER } from '../support/skip.js';

const execFileAsync = promisify(execFile);

describe.each(backendKinds)('pipelines through the proxy on %s', (kind) => {
  let backend: TestBackend;
  let proxy: WireProxy;
  let dir: string;
  beforeAll(async () => {
    // pgbench keeps its first connection open while it opens the client's.
    backend = await emptyBackend(kind, { maxConnections: 2 });
    const { host, port } = upstreamOf(backend.url);
    proxy = await startWireProxy({ upstreamHost: host, upstreamPort: port });
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-pipeline-'));
  });
  afterAll(async () => {
    await proxy?.close();
    await backend?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('measures a hand-built pipeline (three Executes, one Sync) exactly as the in-process tracker does', async () => {
    const url = new URL(backend.url);
    const socket = await rawSession('127.0.0.1', proxy.port, url.username, url.pathname.slice(1));
    const connectionId = proxy.recording().connections.at(-1)!.id;
    const inProcess: TrackedStatement<null>[] = [];
    const untap = tapSocket(
      socket,
      new StatementTracker<null>(
        () => null,
        (s) => inProcess.push(s),
      ) as StatementTracker<unknown>,
    );
    try {
      // One write: the server answers all three before a single ReadyForQuery.
      const pipeline = Buffer.concat([
        extended('select $1::text as a', 'x'),
        extended('select g from generate_series(1, $1::int) g', '40'),
        extended('select 1 / $1::int as boom', '0'),
        extended('select $1::text as never', 'y'),
        sync,
      ]);
      const answered = readUntilReady(socket, 1);
      socket.write(pipeline);
      await answered;
      // Then a plain sequential statement: a round trip of its own.
      const next = readUntilReady(socket, 1);
      socket.write(Buffer.concat([extended('select $1::int as after', '7'), sync]));
      await next;
    } finally {
      untap();
      socket.destroy();
    }
    await until(() => proxy.recording().statements.filter((s) => s.connectionId === connectionId).length >= 5);
    const proxied = proxy.recording().statements.filter((s) => s.connectionId === connectionId);
    const fields = [
      'sql',
      'rows',
      'wireBytes',
      'sentBytes',
      'payloadBytes',
      'command',
      'error',
      'startsRoundTrip',
      'status',
    ] as const;
    const shape = (s: Omit<TrackedStatement<unknown>, 'tag'>) => Object.fromEntries(fields.map((k) => [k, s[k]]));
    expect(proxied.map(shape)).toEqual(inProcess.map(shape));
    expect(proxied.map((s) => [s.sql, s.rows, s.payloadBytes, s.command, s.startsRoundTrip, s.status])).toEqual([
      ['select $1::text as a', 1, 1, 'SELECT 1', true, 'T'],
      ['select g from generate_series(1, $1::int) g', 40, 71, 'SELECT 40', false, 'T'],
      ['select 1 / $1::int as boom', 0, 0, null, false, 'E'],
      ['select $1::text as never', 0, 0, null, false, 'I'],
      ['select $1::int as after', 1, 1, 'SELECT 1', true, 'I'],
    ]);
    expect(proxied[2]!.error).toMatch(/division by zero \(SQLSTATE 22012\)/);
    expect(proxied[3]!.error).toBe('not executed: an earlier statement of the same pipeline failed');
  });

  it("pgbench (libpq, C) with and without pipeline mode: the recording's statements are pgbench's own count, gated by a budget", async () => {
    const script = path.join(dir, 'turn.sql');
    const statements = [
      'select :client_id as client;',
      'select g from generate_series(1, 3) g;',
      'select count(*) from pg_class where relpages >= :n;',
    ];
    const url = new URL(backend.url);
    const env = { ...process.env, PGUSER: url.username, PGDATABASE: url.pathname.slice(1), PGSSLMODE: 'disable' };
    for (const pipelined of [true, false]) {
      const lines = pipelined ? ['\\startpipeline', ...statements, '\\endpipeline'] : statements;
      await writeFile(script, ['\\set n 3', ...lines, ''].join('\n'));
      const { report, exitCode, stdout, stderr } = await record({
        upstreamUrl: backend.url,
        command: ['pgbench', '-n', '-t', '4', '-M', 'extended', '-f', script],
        env,
        stdio: 'pipe',
        budget: budgetFromLimits({ queries: 2 }, 'turn'),
      });
      expect(exitCode, stderr).toBe(0);
      // pgbench's own report of what it ran: 4 transactions of 3 statements each.
      expect(stdout).toMatch(/number of transactions actually processed: 4\/4/);
      const strategy = report.strategies[0]!;
      const turns = strategy.turnDetails as RecordedTurn[];
      expect(strategy.totals.queries).toBe(4 * statements.length);
      expect(turns.flatMap((t) => t.statements).every((s) => s.error === null)).toBe(true);
      if (pipelined) {
        // Each pipeline is one implicit transaction, one unit of work, one round trip.
        expect(turns.map((t) => [t.statements.length, t.roundTrips])).toEqual([
          [3, 1],
          [3, 1],
          [3, 1],
          [3, 1],
        ]);
        expect(strategy.totals.roundTrips).toBe(4);
        // The gate works on the recording: 3 statements per unit is over a budget of 2.
        expect(report.budget?.passed).toBe(false);
      } else {
        expect(strategy.totals.roundTrips).toBe(12);
        expect(turns).toHaveLength(12);
        expect(report.budget?.passed).toBe(true);
      }
      expect(turns[0]!.statements.map((s) => [s.sql, s.rows])).toEqual(
        [
          ['select $1 as client;', 1],
          // Literals are customer data: a recording keeps a keyed hash of each.
          [expect.stringMatching(/^select g from generate_series\('<lit:[0-9a-f]{12}>', '<lit:[0-9a-f]{12}>'\) g;$/), 3],
          ['select count(*) from pg_class where relpages >= $1;', 1],
        ].slice(0, pipelined ? 3 : 1),
      );
    }
  });
});

describeIf(backendKinds.includes('postgres'), NEEDS_SERVER)('function calls through the proxy on postgres', () => {
  let backend: TestBackend;
  beforeAll(async () => {
    backend = await emptyBackend('postgres');
  });
  afterAll(async () => {
    await backend?.close();
  });

  it("records psql's \\lo_export, which libpq sends as FunctionCall messages, and the file arrives intact", async () => {
    const setup = new pg.Client({ connectionString: backend.url });
    await setup.connect();
    const content = 'a large object, '.repeat(1000);
    const { rows } = await setup.query<{ oid: number }>("select lo_from_bytea(0, convert_to($1, 'UTF8')) as oid", [content]);
    await setup.end();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-lo-'));
    try {
      const file = path.join(dir, 'exported');
      const url = new URL(backend.url);
      const { report, exitCode } = await record({
        upstreamUrl: backend.url,
        command: [
          'psql',
          '-X',
          '-q',
          '-d',
          url.pathname.slice(1),
          '-U',
          url.username,
          '-c',
          `\\lo_export ${rows[0]!.oid} ${file}`,
        ],
        env: process.env,
        stdio: 'pipe',
      });
      expect(exitCode).toBe(0);
      expect(await readFile(file, 'utf8')).toBe(content);
      const statements = (report.strategies[0]!.turnDetails as RecordedTurn[]).flatMap((t) => t.statements);
      const calls = statements.filter((s) => s.sql.startsWith('/* FunctionCall'));
      expect(calls.map((s) => s.sql)).toEqual([
        '/* FunctionCall lo_open (oid 952) */',
        ...calls.slice(1, -1).map(() => '/* FunctionCall loread (oid 954) */'),
        '/* FunctionCall lo_close (oid 953) */',
      ]);
      // What loread returned is the object's content, byte for byte.
      expect(calls.reduce((n, s) => n + (s.sql.includes('loread') ? s.payloadBytes : 0), 0)).toBe(content.length);
      // psql runs the export in a transaction: one unit of work from BEGIN to COMMIT.
      expect(statements[0]!.sql).toBe('BEGIN');
      expect(statements.at(-1)!.sql).toBe('COMMIT');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
