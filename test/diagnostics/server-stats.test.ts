import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintSql, initFingerprinting } from '../../src/core/analysis/fingerprint.js';
import {
  canonicalText,
  diffStatStatements,
  MEASUREMENT_SETTINGS,
  serverSettings,
  snapshotStatStatements,
  statStatementsAvailable,
  type StatStatementsEntry,
  type StatStatementsSnapshot,
} from '../../src/core/diagnostics/server-stats.js';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import type { StatementRecord } from '../../src/core/types.js';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';

function record(sql: string, rows = 1): StatementRecord {
  return {
    seq: 1,
    sql,
    params: [],
    fingerprint: fingerprintSql(sql),
    section: null,
    durationMs: 0,
    rows,
    wireBytes: 0,
    sentBytes: 0,
    payloadBytes: 0,
    command: `SELECT ${rows}`,
    error: null,
    roundTrip: 1,
  };
}

function entry(queryId: string, query: string, calls: number, totalExecMs: number, rows: number): StatStatementsEntry {
  return { queryId, query, calls, totalExecMs, rows };
}

const snapshot = (...entries: StatStatementsEntry[]): StatStatementsSnapshot => ({ available: true, entries });

describe('diffStatStatements: matching pg_stat_statements entries to our fingerprints', () => {
  beforeAll(() => initFingerprinting());

  it('compares canonical texts: case, spacing, $n numbering and IN lists of any length', () => {
    const ours = [
      record('select * from "notes" where "id" = $1'),
      record('select * from "notes" where "id" = $1'),
      record('select "id" from "notes" where "id" in ($1, $2)', 2),
      record('select "id" from "notes" where "id" in ($1, $2, $3)', 3),
      record(`SELECT id FROM notes WHERE body = 'x' LIMIT 5`, 0),
      record(`select count(*) from notes where id > $1 and body <> 'z'`),
      record('/* sync */', 0),
      record('select 42 from notes where body is null', 0),
    ];
    const before = snapshot(entry('1', 'select * from "notes" where "id" = $1', 10, 5, 10));
    const after = snapshot(
      entry('1', 'select * from "notes" where "id" = $1', 12, 5.5, 12),
      // PostgreSQL 15 keeps one entry per IN-list length.
      entry('2', 'select "id" from "notes" where "id" in ($1, $2)', 1, 0.25, 2),
      entry('3', 'select "id" from "notes" where "id" in ($1, $2, $3)', 1, 0.5, 3),
      // The first text seen for a query id stays, whatever the case and spacing of later ones.
      entry('4', 'select id  from notes\n where body = $1 limit $2', 1, 0.1, 0),
      // Constants are numbered after the statement's own parameters, in both texts.
      entry('5', 'select count(*) from notes where id > $1 and body <> $2', 1, 0.2, 1),
      entry('6', 'begin transaction read only', 1, 0.01, 0),
    );
    const diff = diffStatStatements(before, after, ours);
    if (!diff.available) throw new Error(diff.reason);
    expect(diff.statements.map((s) => [s.fingerprint, s.localCalls, s.calls, s.rows, s.matchedBy, s.queryIds])).toEqual([
      ['select * from "notes" where "id" = $1', 2, 2, 2, 'text', ['1']],
      ['select "id" from "notes" where "id" in (...)', 2, 2, 5, 'text', ['2', '3']],
      ['SELECT id FROM notes WHERE body = $1 LIMIT $2', 1, 1, 0, 'text', ['4']],
      ['select count(*) from notes where id > $1 and body <> $2', 1, 1, 1, 'text', ['5']],
      ['select $1 from notes where body is null', 1, 0, 0, null, []],
    ]);
    const inList = diff.statements[1]!;
    expect(inList.totalExecMs).toBeCloseTo(0.75);
    expect(inList.meanExecMs).toBeCloseTo(0.375);
    expect(diff.statements[0]!.meanExecMs).toBeCloseTo(0.25);
    expect(diff.statements[4]!.matched).toBe(false);
    expect(diff.unmatched.map((u) => u.query)).toEqual(['begin transaction read only']);
  });

  it('falls back to the parser fingerprint when the server kept another text of the same query (an alias)', () => {
    const ours = [record('select id, body from notes where id = $1')];
    const after = snapshot(entry('9', 'select id as key, body from notes where id = $1', 1, 1, 1));
    const diff = diffStatStatements(snapshot(), after, ours);
    if (!diff.available) throw new Error(diff.reason);
    expect(diff.statements[0]).toMatchObject({ matched: true, matchedBy: 'fingerprint-id', calls: 1, queryIds: ['9'] });
  });

  it('counts growth only: new and reset entries from zero, idle entries and its own snapshots left out', () => {
    const before = snapshot(
      entry('1', 'select $1', 100, 50, 100),
      entry('2', 'select 2 + $1', 7, 7, 7),
      entry('3', 'select $1 + 3', 1, 1, 1),
    );
    const after = snapshot(
      entry('1', 'select $1', 100, 50, 100),
      entry('2', 'select 2 + $1', 2, 4, 2),
      entry('3', 'select $1 + 3', 4, 2.5, 4),
      entry('7', '/* ctxbench: pg_stat_statements snapshot */ select queryid from pg_stat_statements', 1, 1, 1),
    );
    const diff = diffStatStatements(before, after, []);
    if (!diff.available) throw new Error(diff.reason);
    expect(diff.statements).toEqual([]);
    expect(diff.unmatched.map((u) => [u.queryId, u.calls, u.totalExecMs, u.rows, u.meanExecMs])).toEqual([
      ['2', 2, 4, 2, 2],
      ['3', 3, 1.5, 3, 0.5],
    ]);
  });

  it('is unavailable, with the reason, when either snapshot is', () => {
    const off: StatStatementsSnapshot = { available: false, reason: 'pg_stat_statements is not installed in this database' };
    expect(diffStatStatements(off, snapshot(), [])).toEqual(off);
    expect(diffStatStatements(snapshot(), off, [])).toEqual(off);
  });

  it('canonical text ignores case and spacing outside quotes, never inside', () => {
    expect(canonicalText('SELECT  "Id" FROM t\nWHERE a = $1')).toBe(canonicalText('select "Id" from t where a=$1'));
    expect(canonicalText(`select 'A  B'`)).not.toBe(canonicalText(`select 'a b'`));
    expect(canonicalText('select "Id" from t')).not.toBe(canonicalText('select "id" from t'));
    expect(canonicalText('select a from t')).not.toBe(canonicalText('select afrom t'));
  });
});

describe.each(backendKinds)('server-side view on %s', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;

  async function setup(...sql: string[]): Promise<void> {
    const client = new pg.Client({ connectionString: backend.url });
    await client.connect();
    try {
      await client.query('set default_transaction_read_only = off');
      for (const s of sql) await client.query(s);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    backend = await emptyBackend(kind);
    await setup(
      'create table notes (id int primary key, body text)',
      `insert into notes select i, 'note ' || i from generate_series(1, 50) as i`,
    );
    session = await openSession(backend.url);
  });

  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  it('reports the server version and the settings that change measurement', async () => {
    const settings = await serverSettings(session.control);
    expect(settings.server_version).toBe(session.serverVersion);
    for (const name of MEASUREMENT_SETTINGS) expect(typeof settings[name], name).toBe('string');
    // The session's own settings, as this connection sees them.
    expect(settings.default_transaction_read_only).toBe('on');
    expect(settings.statement_timeout).toBe('5s');
    expect(settings.work_mem).toMatch(/^\d+[kMG]B$/);
  });

  it('says why pg_stat_statements cannot be used — or diffs our statements against it', async () => {
    const first = await statStatementsAvailable(session.control);
    if (kind === 'pglite') {
      expect(first).toEqual({
        available: false,
        reason:
          'pg_stat_statements is not available on this server: its extension files are not installed (embedded PGlite does not ship it)',
      });
      expect(await snapshotStatStatements(session.control)).toEqual(first);
      return;
    }
    // A fresh database never has it: ctxbench does not create it.
    expect(first.available).toBe(false);
    expect(first.reason).toBe(
      'pg_stat_statements is not installed in this database (create extension pg_stat_statements; ' +
        "it also needs shared_preload_libraries = 'pg_stat_statements' and a server restart)",
    );
    expect(await snapshotStatStatements(session.control)).toEqual(first);

    // The test (not ctxbench) installs it in its own throwaway database.
    await setup('create extension pg_stat_statements');
    const installed = await statStatementsAvailable(session.control);
    if (!installed.available) {
      // Installed but not preloaded: the view exists and refuses to be read.
      expect(installed.reason).toBe(
        'pg_stat_statements is installed but not loaded: add it to shared_preload_libraries and restart the server ' +
          '(pg_stat_statements must be loaded via shared_preload_libraries)',
      );
      const snap = await snapshotStatStatements(session.control);
      expect(snap).toEqual(installed);
      expect(diffStatStatements(snap, snap, [])).toEqual(installed);
      return;
    }

    const before = await snapshotStatStatements(session.control);
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
    expect(diff.statements.map((s) => [s.fingerprint, s.localCalls, s.calls, s.localRows, s.rows, s.matchedBy])).toEqual([
      ['select * from notes where id = $1', 3, 3, 3, 3, 'text'],
      ['select "body" from "notes" where "id" in (...)', 2, 2, 5, 5, 'text'],
      ['SELECT count(*) FROM notes WHERE body LIKE $1', 1, 1, 1, 1, 'text'],
    ]);
    for (const s of diff.statements) expect(s.meanExecMs).toBeGreaterThanOrEqual(0);
    // The measurement's own transaction, seen by the server and not sent by the strategy.
    expect(diff.unmatched.map((u) => u.query)).toEqual(expect.arrayContaining(['begin transaction read only', 'commit']));
  });
});
