import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import knexFactory, { type Knex } from 'knex';
import type { Duplex } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { profile, type ProfileResult } from '../../src/core/profile.js';
import { pgClientSocket } from '../../src/core/session.js';
import { backendKinds, emptyBackend, type BackendKind, type TestBackend } from '../support/backends.js';

type Query = (sql: string, params?: string[]) => Promise<unknown>;

/** Three statements whose rows and bytes are known exactly (docs/design.md §7). */
async function threeStatements(query: Query): Promise<string> {
  await query(`select repeat('é', 1000) as t`);
  await query('select id from generate_series(1, 1000) as id');
  await query('select $1::text as t', ['héllo']);
  return 'done';
}

function expectThreeStatements(result: ProfileResult<string>): void {
  expect(result.value).toBe('done');
  expect(result.statements.map((s) => [s.seq, s.roundTrip, s.sql, s.params, s.rows, s.payloadBytes])).toEqual([
    [1, 1, `select repeat('é', 1000) as t`, [], 1, 2000],
    [2, 2, 'select id from generate_series(1, 1000) as id', [], 1000, 2893],
    [3, 3, 'select $1::text as t', ['héllo'], 1, 6],
  ]);
  expect(result.statements[1]!.wireBytes).toBe(13944);
  expect(result.queries).toBe(3);
  expect(result.roundTrips).toBe(3);
  expect(result.rows).toBe(1002);
  expect(result.payloadBytes).toBe(4899);
  expect(result.bytes).toBe(result.statements.reduce((a, s) => a + s.wireBytes, 0));
  expect(result.findings).toEqual([]);
}

/** How a socket looks before it is tapped, to check that profile leaves it exactly so. */
function socketState(socket: Duplex): { ownWrite: boolean; write: unknown; dataListeners: number } {
  return { ownWrite: Object.hasOwn(socket, 'write'), write: socket.write, dataListeners: socket.listenerCount('data') };
}

/** A socket no one has patched: `write` is the prototype's. */
function expectUntapped(socket: Duplex): void {
  expect(!Object.hasOwn(socket, 'write') || socket.write === Object.getPrototypeOf(socket).write).toBe(true);
}

describe.each(backendKinds)('profile on %s', (kind) => {
  describe('with a pg.Pool', () => {
    let backend: TestBackend;
    let pool: pg.Pool;
    const clients: pg.Client[] = [];

    beforeAll(async () => {
      backend = await emptyBackend(kind);
      // One connection: the embedded server accepts only one.
      pool = new pg.Pool({ connectionString: backend.url, max: 1 });
      pool.on('connect', (client) => clients.push(client as pg.Client));
    });

    afterAll(async () => {
      await pool?.end();
      await backend?.close();
    });

    it('reports exactly the statements fn sent, on a client the pool created during fn, and untaps it', async () => {
      const result = await profile(() => threeStatements((sql, params) => pool.query(sql, params)), { client: pool });
      expectThreeStatements(result);
      expect(clients).toHaveLength(1);
      expectUntapped(pgClientSocket(clients[0]!));
      expect(pgClientSocket(clients[0]!).listenerCount('data')).toBe(1);
      expect(pool.listenerCount('acquire')).toBe(0);
    });

    it('leaves every client it tapped as it was: no listener, no patched write, no acquire hook', async () => {
      await pool.query('select 1');
      const socket = pgClientSocket(clients[0]!);
      const before = socketState(socket);
      const acquireListeners = pool.listenerCount('acquire');

      const result = await profile(() => pool.query('select 1'), { client: pool });
      expect(result.queries).toBe(1);

      expect(socketState(socket)).toEqual(before);
      expectUntapped(socket);
      expect(pool.listenerCount('acquire')).toBe(acquireListeners);
      await pool.query('select 2');
      expect(result.statements).toHaveLength(1);
      expect(socketState(socket)).toEqual(before);
    });

    it('rethrows what fn throws and still restores the pool and its clients', async () => {
      await pool.query('select 1');
      const socket = pgClientSocket(clients[0]!);
      const before = socketState(socket);
      const boom = new Error('boom');
      await expect(
        profile(
          async () => {
            await pool.query('select 1');
            throw boom;
          },
          { client: pool },
        ),
      ).rejects.toBe(boom);
      expect(socketState(socket)).toEqual(before);
      expectUntapped(socket);
      expect(pool.listenerCount('acquire')).toBe(0);
      // Nothing is left locked: the pool can be profiled again.
      const again = await profile(() => pool.query('select 1'), { client: pool });
      expect(again.queries).toBe(1);
    });

    it('refuses overlapping calls on one pool, and a failed query is still reported', async () => {
      const first = profile(() => pool.query('select pg_sleep(0.01)'), { client: pool });
      await expect(profile(() => pool.query('select 1'), { client: pool })).rejects.toThrow(/already being profiled/);
      expect((await first).queries).toBe(1);
      await expect(profile(() => pool.query('select from nowhere_at_all'), { client: pool })).rejects.toThrow(/nowhere_at_all/);
    });
  });

  describe('with a pg.Client', () => {
    let backend: TestBackend;
    let client: pg.Client;

    beforeAll(async () => {
      backend = await emptyBackend(kind);
      client = new pg.Client({ connectionString: backend.url });
      await client.connect();
    });

    afterAll(async () => {
      await client?.end();
      await backend?.close();
    });

    it('reports exactly the statements fn sent and leaves the socket as it was', async () => {
      const socket = pgClientSocket(client);
      const before = socketState(socket);
      const result = await profile(() => threeStatements((sql, params) => client.query(sql, params)), { client });
      expectThreeStatements(result);
      expect(socketState(socket)).toEqual(before);
      expectUntapped(socket);
      await client.query('select 1');
      expect(result.statements).toHaveLength(3);
    });

    it('rethrows what fn throws and still restores the socket', async () => {
      const socket = pgClientSocket(client);
      const before = socketState(socket);
      await expect(
        profile(
          async () => {
            await client.query('select 1');
            throw new RangeError('nope');
          },
          { client },
        ),
      ).rejects.toThrow(RangeError);
      expect(socketState(socket)).toEqual(before);
    });

    it('finds an N+1 loop', async () => {
      const result = await profile(
        async () => {
          for (const id of [1, 2, 3]) await client.query('select $1::int as id', [id]);
        },
        { client },
      );
      expect(result.queries).toBe(3);
      expect(result.findings).toEqual([
        expect.objectContaining({ kind: 'n-plus-one', statements: 3, maxPerTurn: 3, sql: 'select $1::int as id' }),
      ]);
    });

    it('rejects a client that is not connected, and anything that is not a client', async () => {
      const idle = new pg.Client({ connectionString: backend.url });
      await expect(profile(async () => 1, { client: idle })).rejects.toThrow(/not connected: await client.connect\(\)/);
      await expect(profile(async () => 1, { client: {} as pg.Client })).rejects.toThrow(
        /must be a pg.Client, a pg.Pool or a knex instance/,
      );
      await expect(profile(async () => 1, { client: undefined as unknown as pg.Client })).rejects.toThrow(TypeError);
    });
  });

  describe('with knex', () => {
    let backend: TestBackend;
    let knex: Knex;

    beforeAll(async () => {
      backend = await emptyBackend(kind);
      knex = knexFactory({ client: 'pg', connection: backend.url, pool: { min: 0, max: 1 } });
    });

    afterAll(async () => {
      await knex?.destroy();
      await backend?.close();
    });

    async function knexSocket(): Promise<Duplex> {
      const connection = (await knex.client.acquireConnection()) as pg.Client;
      await knex.client.releaseConnection(connection);
      return pgClientSocket(connection);
    }

    it('reports exactly the statements fn sent and restores acquireConnection and the socket', async () => {
      await knex.raw('select 1');
      const originalAcquire = knex.client.acquireConnection;
      const hadOwnAcquire = Object.hasOwn(knex.client, 'acquireConnection');
      const socket = await knexSocket();
      const before = socketState(socket);

      const result = await profile(() => threeStatements((sql, params) => knex.raw(sql.replace('$1', '?'), params ?? [])), {
        client: knex,
      });
      expectThreeStatements(result);

      expect(knex.client.acquireConnection).toBe(originalAcquire);
      expect(Object.hasOwn(knex.client, 'acquireConnection')).toBe(hadOwnAcquire);
      expect(socketState(socket)).toEqual(before);
      expectUntapped(socket);
    });

    it('measures query builders and transactions', async () => {
      const result = await profile(() => knex.transaction(async (trx) => trx.select(trx.raw('?::int as n', [7]))), {
        client: knex,
      });
      expect(result.value).toEqual([{ n: 7 }]);
      expect(result.statements.map((s) => s.sql)).toEqual(['BEGIN;', 'select $1::int as n', 'COMMIT;']);
    });

    it('rethrows what fn throws and still restores acquireConnection', async () => {
      const originalAcquire = knex.client.acquireConnection;
      const socket = await knexSocket();
      const before = socketState(socket);
      await expect(
        profile(
          async () => {
            await knex.raw('select 1');
            throw new Error('knex boom');
          },
          { client: knex },
        ),
      ).rejects.toThrow('knex boom');
      expect(knex.client.acquireConnection).toBe(originalAcquire);
      expect(Object.hasOwn(knex.client, 'acquireConnection')).toBe(false);
      expect(socketState(socket)).toEqual(before);
    });
  });

  describe('with a pg.Pool of two connections', () => {
    let server: TestBackend;
    let pool: pg.Pool;

    beforeAll(async () => {
      server = await twoConnectionBackend(kind);
      pool = new pg.Pool({ connectionString: server.url, max: 2 });
      // Open both connections first, so that both statements are sent before either returns.
      const [a, b] = await Promise.all([pool.connect(), pool.connect()]);
      a!.release();
      b!.release();
    });

    afterAll(async () => {
      await pool?.end();
      await server?.close();
    });

    it('counts overlapping waits on two connections as one round trip, whichever finishes first', async () => {
      // On a real server the statement sent second finishes first (20 ms against 100 ms):
      // round trips are numbered in the order statements were sent, so the shared wait is one.
      const result = await profile(
        () => Promise.all([pool.query('select pg_sleep(0.1) as a'), pool.query('select pg_sleep(0.02) as b')]),
        { client: pool },
      );
      expect(result.queries).toBe(2);
      expect(result.roundTrips).toBe(1);
      expect(result.statements.map((s) => [s.sql, s.roundTrip]).sort()).toEqual([
        ['select pg_sleep(0.02) as b', 1],
        ['select pg_sleep(0.1) as a', 1],
      ]);
      expect(pool.listenerCount('acquire')).toBe(0);
    });
  });
});

/**
 * An empty database that accepts two connections at once: the embedded backend takes
 * one, so the PGlite case runs its own socket server.
 */
async function twoConnectionBackend(kind: BackendKind): Promise<TestBackend> {
  if (kind === 'postgres') return emptyBackend(kind);
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 2 });
  await server.start();
  return {
    kind,
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
