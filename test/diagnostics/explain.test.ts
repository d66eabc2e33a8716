import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintSql, initFingerprinting } from '../../src/core/analysis/fingerprint.js';
import { explainStatements, filterColumns, isExplainable, type ExplainResult } from '../../src/core/diagnostics/explain.js';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import { listTurns } from '../../src/core/turns.js';
import type { StatementRecord } from '../../src/core/types.js';
import { backendKinds, emptyBackend, seededBackend, type TestBackend } from '../support/backends.js';

/** A statement record as the recorder would make it, for statements the tests write by hand. */
function record(sql: string, params: (string | null)[] = []): StatementRecord {
  return {
    seq: 1,
    sql,
    params,
    fingerprint: fingerprintSql(sql),
    section: null,
    durationMs: 0,
    rows: 0,
    wireBytes: 0,
    sentBytes: 0,
    payloadBytes: 0,
    command: 'SELECT 0',
    error: null,
    roundTrip: 1,
  };
}

/** Node types anywhere in a JSON plan tree, with the relation each scans. */
function scans(plan: unknown): string[] {
  const out: string[] = [];
  const walk = (node: { 'Node Type'?: string; 'Relation Name'?: string; Plans?: unknown[] }): void => {
    if (node['Relation Name'] !== undefined) out.push(`${node['Node Type']} on ${node['Relation Name']}`);
    for (const child of node.Plans ?? []) walk(child as typeof node);
  };
  walk(plan as Parameters<typeof walk>[0]);
  return out;
}

function byTable(results: ExplainResult[], table: string): ExplainResult[] {
  return results.filter((r) => new RegExp(`from "${table}"`).test(r.sql));
}

describe('isExplainable / filterColumns', () => {
  it('explains SELECT and WITH only, after comments and parentheses', () => {
    expect(isExplainable('select 1')).toBe(true);
    expect(isExplainable('  WITH x AS (select 1) select * from x')).toBe(true);
    expect(isExplainable('/* app */ -- note\n (select 1)')).toBe(true);
    expect(isExplainable('/* sync */')).toBe(false);
    expect(isExplainable('set work_mem = 1')).toBe(false);
    expect(isExplainable('begin transaction read only')).toBe(false);
    expect(isExplainable('insert into t select 1')).toBe(false);
    expect(isExplainable('selected')).toBe(false);
  });

  it('finds the columns a Filter mentions, not keywords, types, functions or literal contents', () => {
    const columns = new Set(['id', 'user_id', 'is_approved', 'text', 'Mixed']);
    expect(filterColumns(`(is_approved AND (user_id = '2'::bigint))`, columns)).toEqual(['is_approved', 'user_id']);
    expect(filterColumns(`((id)::text = 'user_id is_approved'::text)`, columns)).toEqual(['id']);
    expect(filterColumns(`(lower(f.text) ~~ '%a%'::text) AND ("Mixed" IS NOT NULL)`, columns)).toEqual(['text', 'Mixed']);
    expect(filterColumns(`(ROW(created_at, (id)::text) < ROW($0, ($1)::text))`, columns)).toEqual(['id']);
  });
});

describe.each(backendKinds)('explainStatements on a seeded tiny dataset (%s)', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;
  let statements: StatementRecord[];

  /** Row count of every table of the dataset: what "nothing was written" is checked against. */
  async function tableCounts(): Promise<Record<string, number>> {
    const tables = await session.control.raw(`select tablename from pg_tables where schemaname = 'public' order by 1`);
    const counts: Record<string, number> = {};
    for (const { tablename } of tables.rows as { tablename: string }[]) {
      const { rows } = await session.control.raw(`select count(*)::int as n from ??`, [tablename]);
      counts[tablename] = rows[0].n;
    }
    return counts;
  }

  beforeAll(async () => {
    backend = await seededBackend(kind, 'tiny');
    session = await openSession(backend.url);
    const [turn] = await listTurns(session.control, ['en-first-1']);
    const m = await session.measure((db) => naiveStrategy.build(db, turn!));
    expect(m.error).toBeUndefined();
    statements = m.statements;
  });

  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  it('plans each distinct fingerprint once, from its first statement', async () => {
    const results = await explainStatements(session.control, statements, {});
    const distinct = [...new Set(statements.map((s) => s.fingerprint))];
    // The naive turn repeats the website_sources lookup (N+1): fewer shapes than statements.
    expect(statements.length).toBeGreaterThan(distinct.length);
    expect(results.map((r) => r.fingerprint)).toEqual(distinct);
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.sql).toBe(statements.find((s) => s.fingerprint === r.fingerprint)!.sql);
      expect(r.totalCost).toBeGreaterThan(0);
      expect(r.planRows).toBeGreaterThanOrEqual(1);
      expect(r.actualMs).toBeUndefined();
      expect(scans(r.planRoot).length).toBeGreaterThan(0);
    }
  });

  it('flags Seq Scans by the relation size the catalog reports, as the plans show them', async () => {
    const at100 = await explainStatements(session.control, statements, { largeTableRows: 100 });
    // messages (428 rows, the only table over 100) is always read through an index.
    for (const r of byTable(at100, 'messages')) {
      expect(
        scans(r.planRoot)
          .filter((s) => s.endsWith('on messages'))
          .every((s) => !s.startsWith('Seq Scan')),
      ).toBe(true);
    }
    // faqs is scanned sequentially, but its 39 rows are under 100: nothing flagged anywhere.
    expect(scans(byTable(at100, 'faqs')[0]!.planRoot)).toEqual(['Seq Scan on faqs']);
    expect(at100.flatMap((r) => r.flags)).toEqual([]);

    const at30 = await explainStatements(session.control, statements, { largeTableRows: 30 });
    const flagged = at30.flatMap((r) => r.flags);
    expect(flagged.every((f) => f.kind === 'seq-scan-large')).toBe(true);
    // Seq Scans of 34 products, 57 website_pages and 39 faqs; conversations/customers (18),
    // users/ai_prompts (4), website_sources (6) are under 30; no table reaches 1,000 rows, so
    // no filter-without-index.
    expect(flagged.map((f) => [f.relation, f.estimatedRows]).sort()).toEqual([
      ['faqs', 39],
      ['products', 34],
      ['website_pages', 57],
    ]);
    const faqs = flagged.find((f) => f.relation === 'faqs')!;
    expect(faqs.filter).toBe(`(is_approved AND (user_id = '2'::bigint))`);
    expect(faqs.message).toBe(
      `Seq Scan on faqs (≈ 39 rows) filtered by (is_approved AND (user_id = '2'::bigint)): reads the whole table on every call`,
    );
  });

  it('with analyze, times each statement and still writes nothing', async () => {
    const before = await tableCounts();
    const results = await explainStatements(session.control, statements, { analyze: true });
    expect(results).toHaveLength(new Set(statements.map((s) => s.fingerprint)).size);
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.actualMs).toBeGreaterThanOrEqual(0);
    }
    // A data-modifying WITH is a WITH: under ANALYZE it would run, and the READ ONLY
    // transaction refuses it.
    const [write] = await explainStatements(
      session.control,
      [record('with gone as (delete from faqs returning id) select count(*) from gone')],
      { analyze: true },
    );
    expect(write!.error).toMatch(/read-only transaction/);
    expect(write!.planRoot).toBeNull();
    expect(await tableCounts()).toEqual(before);
    // The session is left usable: its connection is not stuck in the aborted transaction.
    const after = await session.measure((db) => db.query('select 1'));
    expect(after.error).toBeUndefined();
  });

  it('skips statements that are not queries and reports errors without throwing', async () => {
    const results = await explainStatements(session.control, [
      record('/* sync */'),
      record(`set work_mem = '8MB'`),
      record('select * from no_such_table where id = $1', ['1']),
      record('select * from "users" where "id" = $1', ['2']),
      record('select $1::bytea', ['<binary 3 bytes>']),
    ]);
    expect(results.map((r) => r.sql)).toEqual([
      'select * from no_such_table where id = $1',
      'select * from "users" where "id" = $1',
      'select $1::bytea',
    ]);
    expect(results[0]!.error).toMatch(/no_such_table/);
    expect(results[0]!.flags).toEqual([]);
    // The failed EXPLAIN aborted only its own transaction.
    expect(results[1]!.error).toBeUndefined();
    expect(results[1]!.planRows).toBe(1);
    expect(results[2]!.error).toMatch(/binary parameter/);
  });
});

describe.each(backendKinds)('filter-without-index on a hand-made table (%s)', (kind) => {
  let backend: TestBackend;

  /**
   * Setup runs on a plain connection: sessions are read-only (and PGlite takes one connection
   * at a time). PGlite is one backend whose settings outlive a connection, so the session's
   * read-only default is switched off first.
   */
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

  /** Measures one statement in a fresh session and explains it; `before` runs on the control connection first. */
  async function explainOne(
    sql: string,
    params: string[],
    options: Parameters<typeof explainStatements>[2] = {},
    before: string[] = [],
  ) {
    const session = await openSession(backend.url);
    try {
      const m = await session.measure((db) => db.query(sql, params));
      expect(m.error).toBeUndefined();
      for (const s of before) await session.control.raw(s);
      const results = await explainStatements(session.control, m.statements, options);
      // Undone by hand: on PGlite a setting outlives the connection.
      for (const s of before) await session.control.raw(s.replace(/^set (\w+) = .*$/, 'reset $1'));
      expect(results).toHaveLength(1);
      return results[0]!;
    } finally {
      await session.close();
    }
  }

  beforeAll(async () => {
    await initFingerprinting();
    backend = await emptyBackend(kind);
    await setup(
      'create table tickets (id int primary key, owner_id int not null, status text not null, body text)',
      `insert into tickets select i, i % 500, case when i % 3 = 0 then 'open' else 'closed' end, repeat('x', 50)
         from generate_series(1, 5000) as i`,
      'analyze tickets',
    );
  });

  afterAll(async () => {
    await backend?.close();
  });

  const byOwner = 'select id, body from tickets where owner_id = $1';

  it('flags a filtered Seq Scan of 5,000 rows when no index starts with the filtered column', async () => {
    const plain = await explainOne(byOwner, ['17']);
    expect(scans(plain.planRoot)).toEqual(['Seq Scan on tickets']);
    expect(plain.flags).toEqual([
      {
        kind: 'filter-without-index',
        relation: 'tickets',
        filter: '(owner_id = 17)',
        estimatedRows: 5000,
        columns: ['owner_id'],
        message: 'Seq Scan on tickets (≈ 5,000 rows) filtered by (owner_id = 17): no index starts with owner_id',
      },
    ]);
    // 5,000 rows is under the default 10,000 for seq-scan-large, over 1,000.
    const large = await explainOne(byOwner, ['17'], { largeTableRows: 1000 });
    expect(large.flags.map((f) => f.kind)).toEqual(['seq-scan-large', 'filter-without-index']);
    expect(large.flags[0]!.message).toBe(
      'Seq Scan on tickets (≈ 5,000 rows) filtered by (owner_id = 17): reads the whole table on every call',
    );
    // The primary key leads an index: a filter on id alone needs no new one, even when scanned.
    const forced = ['set enable_indexscan = off', 'set enable_bitmapscan = off', 'set enable_indexonlyscan = off'];
    const byId = await explainOne('select body from tickets where id > $1', ['10'], {}, forced);
    expect(scans(byId.planRoot)).toEqual(['Seq Scan on tickets']);
    expect(byId.flags).toEqual([]);
  });

  it('counts only an index whose leading column the filter names', async () => {
    await setup('create index tickets_status_owner on tickets (status, owner_id)', 'analyze tickets');
    // Index scans off so the plan stays a Seq Scan and the rule itself is what is tested:
    // owner_id is the second column of that index.
    const forced = ['set enable_indexscan = off', 'set enable_bitmapscan = off', 'set enable_indexonlyscan = off'];
    const second = await explainOne(byOwner, ['17'], {}, forced);
    expect(scans(second.planRoot)).toEqual(['Seq Scan on tickets']);
    expect(second.flags.map((f) => f.kind)).toEqual(['filter-without-index']);
    const leading = await explainOne('select id from tickets where status = $1 and owner_id = $2', ['open', '17'], {}, forced);
    expect(scans(leading.planRoot)).toEqual(['Seq Scan on tickets']);
    expect(leading.flags).toEqual([]);

    await setup('create index tickets_owner on tickets (owner_id)', 'analyze tickets');
    const indexed = await explainOne(byOwner, ['17']);
    expect(scans(indexed.planRoot).some((s) => s.startsWith('Seq Scan'))).toBe(false);
    expect(indexed.flags).toEqual([]);
    const stillSeq = await explainOne(byOwner, ['17'], {}, forced);
    expect(stillSeq.flags).toEqual([]);
  });
});
