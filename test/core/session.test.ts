import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';

describe.each(backendKinds)('profiling session on %s', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;

  beforeAll(async () => {
    backend = await emptyBackend(kind);
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
});
