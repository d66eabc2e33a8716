import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import { TurnStopped, transactionControl } from '../../src/core/turn-guard.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';
import { itIf } from '../support/skip.js';

describe.each(backendKinds)('profiling session on %s', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;

  beforeAll(async () => {
    // Two connections, as the embedded server takes: one test opens a second session.
    backend = await emptyBackend(kind, { maxConnections: 2 });
    const setup = await openSession(backend.url, { readOnly: false });
    // Setup writes happen outside `measure`, which is read-only.
    await setup.control.raw('create table notes (id int primary key, body text)');
    await setup.control.raw(`insert into notes values (1, 'é'), (2, null)`);
    await setup.close();
    session = await openSession(backend.url);
  });

  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  it('reports exactly the statements sent, with exact rows and bytes, and not its own BEGIN/COMMIT', async () => {
    const m = await session.measure(async (db) => {
      await db.query(`select repeat('é', 1000) as t`);
      await db.query('select id from generate_series(1, 1000) as id');
      await db.knex('notes').select('body').orderBy('id');
    });
    expect(m.error).toBeUndefined();
    expect(m.statements.map((s) => [s.seq, s.roundTrip, s.rows, s.payloadBytes])).toEqual([
      [1, 1, 1, 2000],
      [2, 2, 1000, 2893],
      [3, 3, 2, 2],
    ]);
    expect(m.statements[1]!.wireBytes).toBe(13944);
    expect(m.statements[2]!.sql).toBe('select "body" from "notes" order by "id" asc');
    expect(m.statements[2]!.fingerprint).toBe('select "body" from "notes" order by "id" asc');
  });

  it('serialises concurrent statements on its one connection: one round trip each', async () => {
    const m = await session.measure((db) => Promise.all([db.query('select 1'), db.knex.raw('select 2'), db.query('select $1::int', [3])]));
    expect(m.statements.map((s) => s.roundTrip)).toEqual([1, 2, 3]);
    expect(m.statements.map((s) => s.sql).sort()).toEqual(['select $1::int', 'select 1', 'select 2']);
    expect(m.statements.find((s) => s.sql === 'select $1::int')!.params).toEqual(['3']);
  });

  it('prepares a named statement once per connection, and a later session on the same server (PGlite: one shared) its own', async () => {
    const sql = 'select body from notes where id = $1';
    const run = (s: ProfilingSession) => s.measure((db) => db.query(sql, [1], { name: 'note' }));
    const first = await run(session);
    const again = await run(session);
    expect([first.error, again.error, again.value?.rows]).toEqual([undefined, undefined, [{ body: 'é' }]]);
    const [a, b] = [first.statements[0]!, again.statements[0]!];
    expect(b.sql).toBe(sql);
    // The second call sends no Parse (1 + 4 + 8 hex digits and "_note" + NUL + the SQL + NUL + 2)
    // and gets no ParseComplete (5 bytes) back.
    expect([a.sentBytes - b.sentBytes, a.wireBytes - b.wireBytes]).toEqual([1 + 4 + 14 + sql.length + 1 + 2, 5]);
    const other = await openSession(backend.url);
    try {
      const m = await run(other);
      expect([m.error, m.value?.rows]).toEqual([undefined, [{ body: 'é' }]]);
      expect(m.statements[0]!.sentBytes).toBe(a.sentBytes);
    } finally {
      await other.close();
    }
  });

  it('makes the whole connection read-only, with timeouts and its name visible to DBAs', async () => {
    const { rows } = await session.control.raw(
      `select current_setting('default_transaction_read_only') as ro, current_setting('statement_timeout') as st,
              current_setting('lock_timeout') as lt, current_setting('application_name') as app`,
    );
    expect(rows[0]).toEqual({ ro: 'on', st: '5s', lt: '1s', app: 'ctxbench' });
    await expect(session.control.raw('create table nope (id int)')).rejects.toThrow(/read-only transaction/);
  });

  it('runs every measured call READ ONLY: a write is refused by the server and nothing changes', async () => {
    const m = await session.measure((db) => db.query(`insert into notes values (3, 'x')`));
    expect(String((m.error as Error).message)).toMatch(/read-only transaction/);
    expect(m.statements).toHaveLength(1);
    expect(m.statements[0]!.error).toMatch(/read-only transaction/);
    const count = await session.control.raw('select count(*)::int as n from notes');
    expect(count.rows[0].n).toBe(2);
    // The session is usable afterwards: the failed transaction was rolled back.
    const after = await session.measure((db) => db.query('select 1'));
    expect(after.error).toBeUndefined();
    expect(after.statements).toHaveLength(1);
  });

  it('stops a call that never settles at its time limit, rolls back, and stays usable', async () => {
    const m = await session.measure(async (db) => {
      await db.query('select 1');
      await new Promise(() => undefined);
    }, { timeoutMs: 200 });
    expect(m.error).toBeInstanceOf(TurnStopped);
    expect((m.error as TurnStopped).reason).toBe('timeout');
    expect((m.error as Error).message).toBe('timed out after 200 ms');
    expect(m.statements).toHaveLength(1);
    // A physical lower bound: it waited at least its limit.
    expect(m.latencyMs).toBeGreaterThanOrEqual(199);
    const after = await session.measure((db) => db.query('select 2'));
    expect(after.error).toBeUndefined();
    expect(after.statements.map((s) => s.sql)).toEqual(['select 2']);
  });

  it('stops a call when its signal aborts, reported as interrupted', async () => {
    const controller = new AbortController();
    const m = await session.measure(async () => {
      setTimeout(() => controller.abort(), 50);
      await new Promise(() => undefined);
    }, { signal: controller.signal });
    expect((m.error as TurnStopped).reason).toBe('interrupted');
    const after = await session.measure((db) => db.query('select 3'));
    expect(after.error).toBeUndefined();
  });

  itIf(kind === 'postgres', 'a CancelRequest needs a real PostgreSQL: PGlite in this thread blocks it while a statement runs (the embedded server stops one by restarting: test/db/embedded-thread.test.ts)')('cancels the statement in flight when the limit passes (a CancelRequest, not the server timeout)', async () => {
    const m = await session.measure((db) => db.query('select pg_sleep(30)'), { timeoutMs: 300 });
    expect((m.error as TurnStopped).reason).toBe('timeout');
    expect(m.statements).toHaveLength(1);
    expect(m.statements[0]!.error).toMatch(/canceling statement due to user request/);
    const after = await session.measure((db) => db.query('select 4'));
    expect(after.error).toBeUndefined();
    const { rows } = await session.control.raw(`select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'`);
    expect(rows[0].n).toBe(0);
  });

  it('refuses to send a statement that would leave the READ ONLY transaction, and reports the strategy', async () => {
    const refused: string[] = [];
    const m = await session.measure(async (db) => {
      for (const sql of ['commit', 'begin; set transaction read write', 'set session characteristics as transaction read write']) {
        await db.query(sql).catch((e: Error) => refused.push(e.message));
      }
      await db.knex.raw('set default_transaction_read_only = off').catch((e: Error) => refused.push(e.message));
      await db.query('create table escaped (id int)');
    });
    expect(refused).toHaveLength(4);
    expect(refused[0]).toMatch(/^ctxbench refused "commit"/);
    expect(m.error).toBeInstanceOf(TurnStopped);
    expect((m.error as TurnStopped).reason).toBe('read-only');
    expect((m.error as Error).message).toBe('tried to write by leaving the read-only transaction');
    expect((m.error as TurnStopped).detail).toBe('it sent "commit", which ctxbench did not forward');
    // Only the CREATE reached the server, which refused it inside the still read-only transaction.
    expect(m.statements.map((s) => s.sql)).toEqual(['create table escaped (id int)']);
    expect(m.statements[0]!.error).toMatch(/read-only transaction/);
    const { rows } = await session.control.raw(`select to_regclass('escaped') is null as absent`);
    expect(rows[0].absent).toBe(true);
  });
});

describe.each(backendKinds)('the read-only net on %s', (kind) => {
  it('a strategy that gets past the check (pg.Client.prototype.query) and ends the transaction is still stopped', async () => {
    const backend = await emptyBackend(kind);
    const session = await openSession(backend.url);
    try {
      const m = await session.measure(async (db) => {
        const client = await db.knex.client.acquireConnection();
        try {
          await Object.getPrototypeOf(client).query.call(client, 'commit');
        } finally {
          await db.knex.client.releaseConnection(client);
        }
        return 'built';
      });
      expect(m.value).toBeUndefined();
      expect((m.error as TurnStopped).reason).toBe('read-only');
      expect((m.error as TurnStopped).detail).toBe('the server reported no transaction open inside the turn');
    } finally {
      await session.close();
      await backend.close();
    }
  });
});

describe('transactionControl', () => {
  it('finds the statements that end or change a transaction, not words inside literals or comments', () => {
    expect(transactionControl('select 1; COMMIT; begin')).toBe('COMMIT');
    expect(transactionControl('  rollback')).toBe('rollback');
    expect(transactionControl('end')).toBe('end');
    expect(transactionControl('START TRANSACTION READ WRITE')).toBe('START TRANSACTION READ WRITE');
    expect(transactionControl('set local transaction_read_only = off')).toBe('set local transaction_read_only = off');
    expect(transactionControl('reset default_transaction_read_only')).toBe('reset default_transaction_read_only');
    expect(transactionControl("select 'x; commit' as a /* ; begin */ -- ; end")).toBeNull();
    expect(transactionControl('select $q$; commit$q$')).toBeNull();
    expect(transactionControl('savepoint a; rollback to savepoint a; release a')).toBeNull();
    expect(transactionControl('select "commit" from t')).toBeNull();
    expect(transactionControl('select * from ending')).toBeNull();
    // A backslash ends nothing in a standard string, but escapes a quote in an E'' one.
    expect(transactionControl("select 'a\\'; commit; --'")).toBe('commit');
    expect(transactionControl("select E'a\\'; commit; --'")).toBeNull();
  });
});
