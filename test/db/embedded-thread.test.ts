/**
 * The embedded database runs on a thread of its own, so a statement PGlite cannot cancel
 * (`pg_sleep(600)`, no timers inside WASM) blocks only that thread: ctxbench's timers, time
 * limits and signals still fire, and it stops the statement by restarting the database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import { TurnStopped } from '../../src/core/turn-guard.js';
import { startEmbeddedEmpty, type EmbeddedServer } from '../../src/db/embedded-server.js';
import { quietKnexOn } from '../../src/db/knex-quiet.js';

describe('the embedded database on its own thread', () => {
  let server: EmbeddedServer;
  let session: ProfilingSession;
  let setups = 0;

  beforeAll(async () => {
    server = await startEmbeddedEmpty(async (url) => {
      setups += 1;
      const knex = quietKnexOn(url);
      try {
        await knex.raw('create table notes (id int primary key, body text)');
        await knex.raw(`insert into notes values (1, 'a'), (2, 'b')`);
      } finally {
        await knex.destroy();
      }
    });
    server.limitStatements(400);
    session = await openSession(server.url, { uncancellable: server, statementTimeoutMs: 400 });
  });

  afterAll(async () => {
    await session?.close();
    await server?.close();
  });

  it('stops a statement past the statement timeout by restarting the database, which then serves the same data', async () => {
    const before = server.stops;
    const m = await session.measure((db) => db.query('select pg_sleep(600)'));
    expect(m.error).toBeInstanceOf(TurnStopped);
    expect((m.error as TurnStopped).reason).toBe('timeout');
    expect((m.error as TurnStopped).message).toBe('ran a statement past the statement timeout (400 ms)');
    expect((m.error as TurnStopped).detail).toBe('the embedded database cannot cancel a statement, so ctxbench restarted it');
    expect(server.stops).toBe(before + 1);
    const after = await session.measure((db) => db.query('select body from notes order by id'));
    expect(after.error).toBeUndefined();
    expect(after.value!.rows).toEqual([{ body: 'a' }, { body: 'b' }]);
    // The restarted database was set up again, on the port the session already knew.
    expect(setups).toBe(2);
  });

  it("stops it when the turn's time limit passes first", async () => {
    server.limitStatements(0);
    try {
      const before = server.stops;
      const m = await session.measure((db) => db.query('select pg_sleep(600)'), { timeoutMs: 200 });
      expect((m.error as TurnStopped).reason).toBe('timeout');
      expect((m.error as TurnStopped).message).toBe('timed out after 200 ms');
      expect(server.stops).toBe(before + 1);
      const after = await session.measure((db) => db.query('select count(*)::int as n from notes'));
      expect(after.value!.rows).toEqual([{ n: 2 }]);
    } finally {
      server.limitStatements(400);
    }
  });

  it('leaves a statement that ends within the limit alone', async () => {
    const before = server.stops;
    const m = await session.measure((db) => db.query('select pg_sleep(0.05) is null as slept'));
    expect(m.error).toBeUndefined();
    expect(m.value!.rows).toEqual([{ slept: false }]);
    expect(server.stops).toBe(before);
  });

  it('an abort (Ctrl-C) stops the statement without restarting, and the server still closes', async () => {
    const aborting = await startEmbeddedEmpty(async () => undefined);
    const other = await openSession(aborting.url, { uncancellable: aborting });
    const controller = new AbortController();
    const m = await other.measure(async (db) => {
      setTimeout(() => controller.abort(), 200);
      await db.query('select pg_sleep(600)');
    }, { signal: controller.signal });
    expect((m.error as TurnStopped).reason).toBe('interrupted');
    expect(aborting.stops).toBe(1);
    await other.close();
    await aborting.close();
  });
});
