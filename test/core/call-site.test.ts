/**
 * Call sites: every statement names the line of the user's code that sent it — through a
 * profiling session (knex, raw SQL, Promise.all, a helper of the user's), through `profile()`
 * on a pg.Client, a pg.Pool and knex, through a strategy file the CLI loads with tsx — and
 * findings list the call sites of their statements. Lines are asserted exactly, found by the
 * marker comments of the files that send the statements.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import knexFactory from 'knex';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFindings } from '../../src/core/analysis/findings.js';
import {
  CALL_SITE_DEPTH,
  captureCallSite,
  copyCallSites,
  currentCallSite,
  frameLocation,
  resolveCallSite,
  traceCallSites,
  traceKnexCallSites,
  type PendingCallSite,
} from '../../src/core/call-site.js';
import { profile } from '../../src/core/profile.js';
import { openSession, pgClientSocket, type ProfilingSession } from '../../src/core/session.js';
import type { Turn } from '../../src/core/types.js';
import callSitesStrategy from './strategies/call-sites.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';
import { repoRoot, spawnCtxbench } from '../support/cli.js';

const STRATEGY_FILE = 'test/core/strategies/call-sites.ts';
const THIS_FILE = 'test/core/call-site.test.ts';

/** `file:N`, N the line of `file` (relative to the repository) holding `text`. */
function lineOf(file: string, text: string): string {
  const lines = readFileSync(path.join(repoRoot, file), 'utf8').split('\n');
  const matches = lines.flatMap((l, i) => (l.includes(text) ? [i + 1] : []));
  if (matches.length !== 1) throw new Error(`${file}: ${matches.length} lines hold ${text}`);
  return `${file}:${matches[0]}`;
}

const site = (name: string): string => lineOf(STRATEGY_FILE, `// site:${name}`);
/** A line of this file marked `// at:<name>` (the marker spelt out only there, so only there it is found). */
const here = (name: string): string => lineOf(THIS_FILE, `// ${'at'}:${name}`);

/** The strategy's statements, in order, by the marker of the line that sends each. */
const EXPECTED = ['raw', 'knex', 'all', 'all', 'n-plus-one', 'n-plus-one', 'n-plus-one'];

const turn: Turn = { tenantId: '1', conversationId: 'c', messageId: 'm', asOf: '' };

describe('resolveCallSite', () => {
  const cwd = '/home/me/app';
  const stack = (...frames: string[]): { stack: string } => ({
    stack: ['Error', ...frames.map((f) => `    at ${f}`)].join('\n'),
  });
  const own = path.join(repoRoot, 'src', 'core', 'session.ts');
  const ownStrategy = path.join(repoRoot, 'dist', 'core', 'strategies', 'naive-strategy.js');

  it('skips knex, tarn, pg*, ctxbench itself and Node internals, and names the first other frame relative to cwd', () => {
    const site = stack(
      `Object.query (${own}:130:45)`,
      '/home/me/app/node_modules/knex/lib/dialects/postgres/index.js:279:18',
      'new Promise (<anonymous>)',
      'PendingItem.callback (/home/me/app/node_modules/pg-pool/index.js:467:16)',
      'Client._handleReadyForQuery (/home/me/app/node_modules/pg/lib/client.js:381:14)',
      'acquire (/home/me/app/node_modules/tarn/dist/Pool.js:1:1)',
      'process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      'async Promise.all (index 0)',
      'async repository (file:///home/me/app/src/repo.ts:12:7)',
      'async build (/home/me/app/src/build.ts:30:3)',
    );
    expect(resolveCallSite(site, cwd)).toBe(path.join('src', 'repo.ts') + ':12');
  });

  it("keeps a path outside cwd absolute, counts the built-in strategies as call sites, and is null when every frame is a library's", () => {
    expect(resolveCallSite(stack('async build (/elsewhere/x.mjs:3:1)'), cwd)).toBe('/elsewhere/x.mjs:3');
    expect(resolveCallSite(stack(`build (${own}:1:1)`, `async naive (${ownStrategy}:29:9)`), cwd)).toBe(`${ownStrategy}:29`);
    expect(resolveCallSite(stack(`build (${own}:1:1)`, 'x (node:events:524:28)'), cwd)).toBeNull();
    expect(resolveCallSite(null, cwd)).toBeNull();
    expect(resolveCallSite({}, cwd)).toBeNull();
  });

  it('reads the frame forms V8 prints', () => {
    expect(frameLocation('    at /a/b.js:1:2')).toEqual({ file: '/a/b.js', line: 1 });
    expect(frameLocation('    at async f (file:///a/b%20c.ts:7:2)')).toEqual({ file: '/a/b c.ts', line: 7 });
    expect(frameLocation('    at async file:///a/b.ts:9:1')).toEqual({ file: '/a/b.ts', line: 9 });
    expect(frameLocation('    at f (/a/My App (copy)/b.js:4:1)')).toEqual({ file: '/a/My App (copy)/b.js', line: 4 });
    expect(frameLocation('    at eval (eval at <anonymous> (file:///a/b.js:1:1), <anonymous>:1:1)')).toBeNull();
    expect(frameLocation('    at new Promise (<anonymous>)')).toBeNull();
    expect(frameLocation('    at async Promise.all (index 1)')).toBeNull();
    expect(frameLocation('Error: boom')).toBeNull();
  });

  it('captures at most CALL_SITE_DEPTH frames and leaves Error.stackTraceLimit as it was', () => {
    const before = Error.stackTraceLimit;
    const deep = (n: number): { stack?: string } => (n === 0 ? captureCallSite() : deep(n - 1));
    const frames = deep(40)
      .stack!.split('\n')
      .filter((l) => l.trim().startsWith('at '));
    expect(frames).toHaveLength(CALL_SITE_DEPTH);
    expect(Error.stackTraceLimit).toBe(before);
    // Here, this file is the first frame outside ctxbench.
    expect(resolveCallSite(deep(0))).toMatch(new RegExp(`^${THIS_FILE}:\\d+$`));
  });
});

describe('copyCallSites', () => {
  it("gives a timed build's statements the untimed build's call sites, position by position, where the SQL matches", () => {
    const untimed = [
      { sql: 'select 1', callSite: 'a.ts:1' },
      { sql: 'select 2', callSite: 'a.ts:2' },
      { sql: 'select 3', callSite: null },
    ];
    const timed = [
      { sql: 'select 1', callSite: null },
      { sql: 'select 9', callSite: null },
      { sql: 'select 3', callSite: null },
      { sql: 'select 4', callSite: null },
    ];
    copyCallSites(untimed, timed);
    expect(timed.map((s) => s.callSite)).toEqual(['a.ts:1', null, null, null]);
  });
});

describe.each(backendKinds)('call sites on %s', (kind) => {
  let backend: TestBackend;

  beforeAll(async () => {
    // Two: a pool or knex may open its connection before the last one has gone.
    backend = await emptyBackend(kind, { maxConnections: 2 });
  });
  afterAll(async () => {
    await backend?.close();
  });

  describe('through a profiling session', () => {
    let session: ProfilingSession;
    beforeAll(async () => {
      session = await openSession(backend.url);
    });
    afterAll(async () => {
      await session?.close();
    });

    it('name the strategy file line of every statement, and findings list them', async () => {
      const m = await session.measure((db) => callSitesStrategy.build(db, turn));
      expect(m.error).toBeUndefined();
      expect(m.statements.map((s) => s.callSite)).toEqual(EXPECTED.map(site));
      const [nPlusOne] = findFindings([{ statements: m.statements }]).filter((f) => f.kind === 'n-plus-one');
      expect(nPlusOne!.callSites).toEqual([site('n-plus-one')]);
    });

    it("capture nothing when the call asks for none (a runner's timed builds)", async () => {
      const m = await session.measure((db) => callSitesStrategy.build(db, turn), { callSites: false });
      expect(m.statements).toHaveLength(EXPECTED.length);
      expect(m.statements.map((s) => s.callSite)).toEqual(EXPECTED.map(() => null));
      // The next call captures again by default.
      const again = await session.measure((db) => callSitesStrategy.build(db, turn));
      expect(again.statements.map((s) => s.callSite)).toEqual(EXPECTED.map(site));
    });

    it('name a raw query sent straight from a test', async () => {
      const m = await session.measure(async (db) => db.query('select 1')); // at:test-session
      expect(m.statements.map((s) => s.callSite)).toEqual([here('test-session')]);
    });
  });

  /**
   * Spies on what a socket tap sees while `client` writes: the current call site, and whether its
   * stack was already captured then. Returns what it saw and the function that stops spying.
   */
  function spyOnWrites(client: pg.Client): { seen: { site: PendingCallSite | null; captured: boolean }[]; stop: () => void } {
    const socket = pgClientSocket(client);
    const write = socket.write;
    const seen: { site: PendingCallSite | null; captured: boolean }[] = [];
    socket.write = function (this: typeof socket, ...args: unknown[]): boolean {
      const site = currentCallSite();
      seen.push({ site, captured: site !== null && Object.prototype.hasOwnProperty.call(site, 'stack') });
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof socket.write;
    return { seen, stop: () => void delete (socket as { write?: unknown }).write };
  }

  it('capture the stack only once pg has written the statement (the walk overlaps the server, not the send), for pg and knex', async () => {
    const client = new pg.Client({ connectionString: backend.url });
    await client.connect();
    const spy = spyOnWrites(client);
    const untrace = traceCallSites(client, () => true);
    try {
      await client.query('select 1'); // at:after-write
    } finally {
      untrace();
      spy.stop();
      await client.end();
    }
    expect(spy.seen.length).toBeGreaterThan(0);
    expect(spy.seen.map((w) => w.captured)).toEqual(spy.seen.map(() => false));
    expect(resolveCallSite(spy.seen[0]!.site)).toBe(here('after-write'));

    const knex = knexFactory({ client: 'pg', connection: backend.url, pool: { min: 0, max: 1 } });
    try {
      const connection = (await knex.client.acquireConnection()) as pg.Client;
      await knex.client.releaseConnection(connection);
      const knexSpy = spyOnWrites(connection);
      const untraceKnex = traceKnexCallSites(knex, () => true);
      const untraceClient = traceCallSites(connection, () => true);
      try {
        await knex.raw('select 2'); // at:knex-after-write
      } finally {
        untraceClient();
        untraceKnex();
        knexSpy.stop();
      }
      expect(knexSpy.seen.length).toBeGreaterThan(0);
      expect(knexSpy.seen.map((w) => w.captured)).toEqual(knexSpy.seen.map(() => false));
      expect(resolveCallSite(knexSpy.seen[0]!.site)).toBe(here('knex-after-write'));
    } finally {
      await knex.destroy();
    }
  });

  it('name the caller through profile() on a pg.Client, including statements pg queues behind another', async () => {
    const client = new pg.Client({ connectionString: backend.url });
    await client.connect();
    try {
      const { statements } = await profile(
        async () => {
          await client.query('select 1'); // at:client-one
          await Promise.all([client.query('select 2'), client.query('select 3')]); // at:client-queued
        },
        { client },
      );
      expect(statements.map((s) => s.callSite)).toEqual([here('client-one'), here('client-queued'), here('client-queued')]);
      // Put back as found.
      expect(Object.prototype.hasOwnProperty.call(client, 'query')).toBe(false);
    } finally {
      await client.end();
    }
  });

  it('name the caller through profile() on a pg.Pool (pool.query and a checked-out client) and on knex', async () => {
    const pool = new pg.Pool({ connectionString: backend.url, max: 1 });
    try {
      const { statements } = await profile(
        async () => {
          await pool.query('select 1'); // at:pool-text
          await pool.query({ text: 'select $1::int', values: [2] }); // at:pool-config
          const c = await pool.connect();
          await c.query('select 3'); // at:pool-client
          c.release();
        },
        { client: pool },
      );
      expect(statements.map((s) => s.callSite)).toEqual(['pool-text', 'pool-config', 'pool-client'].map((m) => here(m)));
      expect(Object.prototype.hasOwnProperty.call(pool, 'query')).toBe(false);
    } finally {
      await pool.end();
    }
    const knex = knexFactory({ client: 'pg', connection: backend.url, pool: { min: 0, max: 1 } });
    try {
      const { statements } = await profile(
        async () => {
          await knex.raw('select 1'); // at:knex-raw
          await knex('pg_class').select('relname').limit(1); // at:knex-builder
        },
        { client: knex },
      );
      expect(statements.map((s) => s.callSite)).toEqual(['knex-raw', 'knex-builder'].map((m) => here(m)));
      expect(Object.prototype.hasOwnProperty.call(knex.client, 'query')).toBe(false);
      // A transaction runs on a knex client of its own: pg's query still finds the caller.
      const inTransaction = await profile(
        () =>
          knex.transaction(async (trx) => {
            await trx.raw('select 1'); // at:knex-trx
          }),
        { client: knex },
      );
      const sites = inTransaction.statements.map((s) => [s.sql, s.callSite]);
      expect(sites).toContainEqual(['select 1', here('knex-trx')]);
    } finally {
      await knex.destroy();
    }
  });
});

describe('call sites of a strategy file the CLI loads (tsx)', () => {
  it("replay --format ndjson names each statement's line of the .ts file, and its table has a call-site column", async () => {
    const args = ['replay', '--strategy', `./${STRATEGY_FILE}`, '--scale', 'tiny', '--conversation', 'de-care-1'];
    const ndjson = await spawnCtxbench([...args, '--format', 'ndjson']);
    expect(ndjson.stderr.split('\n').filter((l) => /error/i.test(l))).toEqual([]);
    expect(ndjson.code).toBe(0);
    const records = ndjson.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { turn: string; callSite: string | null });
    const first = records.filter((r) => r.turn === records[0]!.turn);
    expect(first.map((r) => r.callSite)).toEqual(EXPECTED.map(site));
    const table = await spawnCtxbench(args);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/│ call site +│ SQL/);
    expect(table.stdout).toContain(`│ ${site('knex')} │ select "relname" from "pg_class"`);
  });
});
