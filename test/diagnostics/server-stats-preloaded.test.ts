/**
 * The readable pg_stat_statements path, really run: a private PostgreSQL 15 cluster with the
 * module preloaded (a shared server cannot be restarted for a test), the extension created by
 * the test, and our statements diffed against the server's own counts.
 */
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { diffStatStatements, snapshotStatStatements, statStatementsAvailable } from '../../src/core/diagnostics/server-stats.js';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import { privateClusterUnavailable, startPrivateCluster, type PrivateCluster } from '../support/private-postgres.js';
import { describeIf } from '../support/skip.js';

const unavailable = privateClusterUnavailable();

describeIf(unavailable === null, unavailable ?? '')('pg_stat_statements preloaded on a private PostgreSQL 15', () => {
  let cluster: PrivateCluster;
  let session: ProfilingSession;

  beforeAll(async () => {
    cluster = await startPrivateCluster({ shared_preload_libraries: "'pg_stat_statements'", 'pg_stat_statements.track': "'top'" });
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    try {
      await client.query('create table notes (id int primary key, body text)');
      await client.query(`insert into notes select i, 'note ' || i from generate_series(1, 50) as i`);
      // The test (not ctxbench) installs the extension.
      await client.query('create extension pg_stat_statements');
    } finally {
      await client.end();
    }
    session = await openSession(cluster.url);
  }, 180_000);

  afterAll(async () => {
    await session?.close();
    await cluster?.stop();
  });

  it('is available, and matches every statement we sent to the server’s counts', async () => {
    expect(await statStatementsAvailable(session.control)).toMatchObject({ available: true });
    const before = await snapshotStatStatements(session.control);
    expect(before.available).toBe(true);
    const m = await session.measure(async (db) => {
      for (const id of ['1', '2', '3']) await db.query('select * from notes where id = $1', [id]);
      await db.knex('notes').whereIn('id', [1, 2]).select('body');
      await db.knex('notes').whereIn('id', [4, 5, 6]).select('body');
      await db.query(`SELECT count(*) FROM notes WHERE body LIKE 'note 1%'`);
    });
    expect(m.error).toBeUndefined();
    const after = await snapshotStatStatements(session.control);
    const diff = diffStatStatements(before, after, m.statements);
    if (!diff.available) throw new Error(diff.reason);
    expect(diff.statements.map((s) => [s.fingerprint, s.localCalls, s.calls, s.localRows, s.rows, s.matchedBy, s.matched])).toEqual([
      ['select * from notes where id = $1', 3, 3, 3, 3, 'text', true],
      ['select "body" from "notes" where "id" in (...)', 2, 2, 5, 5, 'text', true],
      ['SELECT count(*) FROM notes WHERE body LIKE $1', 1, 1, 1, 1, 'text', true],
    ]);
    // Two IN-list lengths are two entries on PostgreSQL 15.
    expect(diff.statements[1]!.queryIds).toHaveLength(2);
    for (const s of diff.statements) expect(s.totalExecMs).toBeGreaterThanOrEqual(0);
    // The measurement's own transaction, seen by the server and not sent by the strategy.
    expect(diff.unmatched.map((u) => u.query)).toEqual(expect.arrayContaining(['begin transaction read only', 'commit']));
  });
});
