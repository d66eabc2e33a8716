/**
 * What-if (issue #15 item 3): the fix of each N+1 group and SELECT * measured after the
 * warm-up build, in its read-only transaction, never counted in the turn. Planner on its own,
 * then the reference naive strategy on every backend with exact figures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare } from '../../src/commands/compare.js';
import { planBatchedRewrite, planColumnsRewrite, type CatalogLookup, type TableInfo } from '../../src/core/analysis/what-if.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import type { Strategy } from '../../src/core/types.js';
import type { Finding, Report } from '../../src/report/model.js';
import { describeFix, renderTable } from '../../src/report/table.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { renderHtml } from '../../src/report/html.js';
import { redactReport } from '../../src/report/redact.js';
import { initFingerprinting } from '../../src/core/analysis/fingerprint.js';
import { backendKinds, seededBackend, type TestBackend } from '../support/backends.js';

const TABLES: Record<string, TableInfo> = {
  t: {
    columns: [
      { name: 'id', notNull: true },
      { name: 'parent_id', notNull: true },
      { name: 'rank', notNull: false },
      { name: 'name', notNull: false },
    ],
    uniqueKeys: [['id']],
  },
};
const catalog: CatalogLookup = async (_schema, table) => TABLES[table] ?? null;
const group = (sql: string, ...params: (string | null)[][]) => params.map((p) => ({ sql, params: p }));

describe('planBatchedRewrite', () => {
  it('turns col = $n into col = ANY($n) with the distinct values, keeping the other parameters', async () => {
    const plan = await planBatchedRewrite(
      group('select * from t where parent_id = $1 and name = $2', ['1', 'a'], ['2', 'a'], ['1', 'a']),
      catalog,
    );
    expect(plan).toEqual({ ok: true, sql: 'select * from t where parent_id = ANY($1) and name = $2', runs: [[['1', '2'], 'a']] });
  });

  it('drops LIMIT 1 when the column has a single-column unique index, renumbering the parameters', async () => {
    const plan = await planBatchedRewrite(group('select * from "t" where "id" = $1 limit $2', ['1', '1'], ['2', '1']), catalog);
    expect(plan).toEqual({ ok: true, sql: 'select * from "t" where "id" = ANY($1)', runs: [[['1', '2']]] });
  });

  it('rewrites a LIMIT per group with row_number() when the ORDER BY decides ties', async () => {
    const plan = await planBatchedRewrite(
      group('select * from t where parent_id = $1 order by rank desc, id limit $2', ['1', '5'], ['2', '5']),
      catalog,
    );
    expect(plan).toEqual({
      ok: true,
      sql:
        'select "id", "parent_id", "rank", "name" from (select *, row_number() over (partition by "parent_id" order by rank desc, id) as ctxbench_rn ' +
        'from t where parent_id = ANY($1)) as ctxbench_g where ctxbench_rn <= $2',
      runs: [[['1', '2'], '5']],
    });
  });

  it.each([
    [
      'select * from t where parent_id = $1 order by rank limit 5',
      'LIMIT 5 per group whose ORDER BY does not decide ties (no unique, not-null key among its columns)',
    ],
    [
      'select * from t where parent_id = $1 limit 2',
      'LIMIT 2 per group without ORDER BY: which rows each statement returned is not defined',
    ],
    ['select * from t where parent_id = $1 order by id offset 1', 'it has OFFSET'],
    [
      'select t.* from t join t u on u.id = t.parent_id where t.parent_id = $1',
      'it reads more than one table (or a join or subquery)',
    ],
    ['select * from t where parent_id > $1', '$1 is not the right side of a "column = $1" condition of the WHERE clause'],
    ['select * from t where parent_id = $1 or name = $1', '$1 appears more than once'],
    ['select * from t where lower(name) = $1', 'the left side of "= $1" is not a plain column of t'],
  ])('names %s not rewritable', async (sql, reason) => {
    expect(await planBatchedRewrite(group(sql, ['1'], ['2']), catalog)).toEqual({ ok: false, reason });
  });

  it('refuses a group where more than one parameter varies, or values written into the SQL', async () => {
    expect(
      await planBatchedRewrite(group('select * from t where id = $1 and name = $2', ['1', 'a'], ['2', 'b']), catalog),
    ).toEqual({
      ok: false,
      reason: 'more than one parameter varies across the group',
    });
    expect(
      await planBatchedRewrite(
        [
          { sql: 'select * from t where id = 1', params: [] },
          { sql: 'select * from t where id = 2', params: [] },
        ],
        catalog,
      ),
    ).toEqual({ ok: false, reason: 'its statements differ in their SQL text (values written into it), not in one parameter' });
  });
});

describe('planColumnsRewrite', () => {
  it('replaces * or t.* with the used columns, parameters unchanged', async () => {
    expect(
      await planColumnsRewrite([{ sql: 'select t.* from t where id = $1 limit $2', params: ['1', '1'] }], ['name', 'rank']),
    ).toEqual({
      ok: true,
      sql: 'select "name", "rank" from t where id = $1 limit $2',
      runs: [['1', '1']],
    });
  });

  it('names a select list that is not a lone star, and a statement none of whose columns is used', async () => {
    expect(await planColumnsRewrite([{ sql: 'select *, 1 from t', params: [] }], ['id'])).toEqual({
      ok: false,
      reason: 'its select list is not a lone * or t.*',
    });
    expect(await planColumnsRewrite([{ sql: 'select * from t', params: [] }], [])).toEqual({
      ok: false,
      reason: 'the prompt uses none of its columns (it may only feed another statement)',
    });
  });
});

describe('describeFix', () => {
  const base: Finding = {
    kind: 'n-plus-one',
    fingerprint: 'f',
    sql: 's',
    turns: 1,
    statements: 10,
    maxPerTurn: 10,
    bytes: 113_600,
  };
  it('renders a measured fix, a not-rewritable shape and a rewrite that returned other rows', () => {
    const before = { statements: 10, roundTrips: 10, rows: 10, bytes: 113_600, payloadBytes: 50_000 };
    expect(
      describeFix({
        ...base,
        fix: {
          status: 'measured',
          sql: 'x',
          turns: 1,
          statements: 1,
          roundTrips: 1,
          rows: 2,
          bytes: 11_900,
          payloadBytes: 5_000,
          before,
        },
      }),
    ).toBe('fix: 1 statement instead of 10 (round trips 10 → 1, rows 10 → 2), 113.6 kB → 11.9 kB, measured');
    expect(describeFix({ ...base, fix: { status: 'not-rewritable', reason: 'it has OFFSET' } })).toBe(
      'fix: not rewritable: it has OFFSET',
    );
    expect(describeFix({ ...base, fix: { status: 'different-rows', sql: 'x', reason: 'r' } })).toBe(
      'fix: none, the rewrite returned other rows: r',
    );
    expect(describeFix(base)).toBeNull();
  });
});

describe('redactReport', () => {
  beforeAll(() => initFingerprinting());
  it('shows a rewrite as its fingerprint and hides a server message that may quote a value', () => {
    const report = {
      strategies: [
        {
          turnDetails: [],
          findings: [
            {
              kind: 'n-plus-one',
              fingerprint: 'f',
              sql: 's',
              turns: 1,
              statements: 2,
              maxPerTurn: 2,
              bytes: 1,
              fix: { status: 'different-rows', sql: "select * from t where id = ANY($1) and name = 'secret'", reason: 'r' },
            },
            {
              kind: 'n-plus-one',
              fingerprint: 'g',
              sql: 's',
              turns: 1,
              statements: 2,
              maxPerTurn: 2,
              bytes: 1,
              fix: { status: 'failed', sql: 'select 1', reason: 'invalid input syntax for type uuid: "secret"' },
            },
          ],
        },
      ],
    } as unknown as Report;
    const [a, b] = redactReport(report).strategies[0]!.findings;
    expect(a!.fix).toEqual({ status: 'different-rows', sql: 'select * from t where id = ANY($1) and name = $2', reason: 'r' });
    expect(b!.fix).toEqual({
      status: 'failed',
      sql: 'select $1',
      reason: 'the server refused it (--show-content shows its message)',
    });
  });
});

/** A user strategy with one N+1 group whose rewrite cannot return the same rows (random()), and one not rewritable. */
const trickyStrategy: Strategy = {
  name: 'tricky',
  async build(db) {
    const { rows: sites } = await db.query<{ id: string }>('select id from website_sources order by id limit 2');
    const out: string[] = [];
    for (const site of sites) {
      await db.query('select id, random() as r from website_sources where id = $1', [site.id]);
      const { rows } = await db.query<{ title: string }>('select title from website_pages where website_id = $1 limit 2', [
        site.id,
      ]);
      out.push(...rows.map((r) => r.title));
    }
    return out.join('\n');
  },
};

const PAGES =
  'select * from "website_pages" where "website_id" = $1 and "processing_status" = $2 order by "updated_at" desc, "id" asc limit $3';
const SOURCES = 'select * from "website_sources" where "id" = $1 limit $2';

const find = (report: Report, kind: Finding['kind'], sql: string): Finding =>
  report.strategies[0]!.findings.find((f) => f.kind === kind && f.sql === sql)!;

/** Everything a turn reports except its latency. */
const turnFigures = (report: Report) =>
  report.strategies.map((s) => ({
    totals: s.totals,
    sections: s.sections,
    turns: s.turnDetails.map(({ latencyMs: _latency, ...d }) => ({
      ...d,
      statements: d.statements.map(({ durationMs: _d, ...st }) => st),
    })),
    findings: s.findings.map(({ fix: _fix, ...f }) => f),
  }));

describe.each(backendKinds)('what-if on %s', (kind) => {
  let backend: TestBackend;
  let withFix: Report;
  let without: Report;

  beforeAll(async () => {
    backend = await seededBackend(kind);
    withFix = await compare({ url: backend.url, strategies: [naiveStrategy], tokenizer: 'none', whatIf: true });
    without = await compare({ url: backend.url, strategies: [naiveStrategy], tokenizer: 'none', whatIf: false });
  }, 120_000);
  afterAll(async () => backend?.close());

  it('measures a fix for every N+1 group of the naive strategy, exactly', () => {
    const groups = withFix.strategies[0]!.findings.filter((f) => f.kind === 'n-plus-one');
    expect(groups.map((f) => f.sql)).toEqual([PAGES, SOURCES]);
    // 5 pages per website: one row_number() statement per turn instead of one per website.
    expect(find(withFix, 'n-plus-one', PAGES).fix).toEqual({
      status: 'measured',
      sql:
        'select "id", "website_id", "url", "title", "raw_content", "cleaned_content", "summary", "meta_description", "meta_keywords", "word_count", ' +
        '"processing_status", "h1_tags", "h2_tags", "links", "crawled_at", "created_at", "updated_at" from (select *, row_number() over ' +
        '(partition by "website_id" order by "updated_at" desc, "id" asc) as ctxbench_rn from "website_pages" where "website_id" = ANY($1) ' +
        'and "processing_status" = $2) as ctxbench_g where ctxbench_rn <= $3',
      turns: 17,
      statements: 17,
      roundTrips: 17,
      rows: 170,
      bytes: 6_140_084,
      payloadBytes: 6_118_511,
      before: { statements: 34, roundTrips: 34, rows: 170, bytes: 6_148_873, payloadBytes: 6_118_511 },
    });
    // page.website per page: the LIMIT 1 goes (id is the primary key), each website read once.
    expect(find(withFix, 'n-plus-one', SOURCES).fix).toEqual({
      status: 'measured',
      sql: 'select * from "website_sources" where "id" = ANY($1)',
      turns: 17,
      statements: 17,
      roundTrips: 17,
      rows: 34,
      bytes: 15_704,
      payloadBytes: 6_745,
      before: { statements: 170, roundTrips: 170, rows: 170, bytes: 113_285, payloadBytes: 33_725 },
    });
    // The group's figures are the finding's own.
    for (const f of groups) {
      expect(f.fix?.status === 'measured' && [f.fix.before.statements, f.fix.before.bytes]).toEqual([f.statements, f.bytes]);
    }
  });

  it('reports the bytes a SELECT * with unused columns would save with only the used columns', () => {
    const fix = find(withFix, 'select-star', PAGES).fix;
    expect(fix).toMatchObject({
      status: 'measured',
      statements: 34,
      roundTrips: 34,
      rows: 170,
      bytes: 917_400,
      payloadBytes: 902_134,
      before: { statements: 34, roundTrips: 34, rows: 170, bytes: 6_148_873, payloadBytes: 6_118_511 },
    });
    expect(fix?.status === 'measured' && fix.sql.startsWith('select "url", "title", "cleaned_content", "summary"')).toBe(true);
    expect(describeFix(find(withFix, 'select-star', PAGES))).toBe(
      'fix: only the used columns, 6.1 MB → 917.4 kB (5.2 MB saved), measured',
    );
  });

  it('leaves the turn figures, sections and findings exactly as without what-if', () => {
    expect(turnFigures(withFix)).toEqual(turnFigures(without));
    expect(without.strategies[0]!.findings.some((f) => f.fix !== undefined)).toBe(false);
    expect(withFix.strategies[0]!.totals).toEqual({
      queries: 460,
      roundTrips: 460,
      bytes: 6_638_479,
      payloadBytes: 6_401_428,
      rows: 918,
    });
  });

  it('renders the fix in the table, markdown and HTML findings', () => {
    const line = 'fix: 17 statements instead of 170 (round trips 170 → 17, rows 170 → 34), 113.3 kB → 15.7 kB, measured';
    expect(renderTable(withFix, { color: false })).toContain(`      ${line}`);
    expect(renderMarkdown(withFix)).toContain(`    - ${line}`);
    expect(renderHtml(withFix)).toContain(`<span class="fix">${line}</span>`);
  });

  it('says a rewrite returned other rows rather than report it, and names a shape it cannot rewrite', async () => {
    const report = await compare({
      url: backend.url,
      strategies: [trickyStrategy],
      turns: [{ id: 'one' }],
      tokenizer: 'none',
      anySchema: true,
      whatIf: true,
    });
    const findings = report.strategies[0]!.findings.filter((f) => f.kind === 'n-plus-one');
    expect(findings.map((f) => [f.sql, f.fix])).toEqual([
      [
        'select id, random() as r from website_sources where id = $1',
        {
          status: 'different-rows',
          sql: 'select id, random() as r from website_sources where id = ANY($1)',
          reason: 'it returned 2 rows where 2 were expected (2 missing, 2 not among them)',
        },
      ],
      [
        'select title from website_pages where website_id = $1 limit 2',
        {
          status: 'not-rewritable',
          reason: 'LIMIT 2 per group without ORDER BY: which rows each statement returned is not defined',
        },
      ],
    ]);
    expect(describeFix(findings[1]!)).toBe(
      'fix: not rewritable: LIMIT 2 per group without ORDER BY: which rows each statement returned is not defined',
    );
  });
});
