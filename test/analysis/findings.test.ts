import { beforeAll, describe, expect, it } from 'vitest';
import type { ColumnUse } from '../../src/core/analysis/column-usage.js';
import { findFindings, selectsStar } from '../../src/core/analysis/findings.js';
import { fingerprintId, fingerprintSql, initFingerprinting } from '../../src/core/analysis/fingerprint.js';
import type { StatementRecord } from '../../src/core/types.js';

beforeAll(async () => {
  await initFingerprinting();
});

function st(seq: number, sql: string, params: (string | null)[] = [], wireBytes = 100): StatementRecord {
  return {
    seq,
    sql,
    params,
    fingerprint: fingerprintSql(sql),
    section: null,
    durationMs: 0.1,
    rows: 1,
    wireBytes,
    sentBytes: 40,
    payloadBytes: 50,
    command: 'SELECT 1',
    error: null,
    roundTrip: seq,
  };
}

const CUSTOMER = 'select "id", "first_name" from "customers" where "id" = $1';

describe('findFindings', () => {
  it('reports an N+1 group of 6 statements with different params', () => {
    const statements = [1, 2, 3, 4, 5, 6].map((i) => st(i, CUSTOMER, [String(i)]));
    const findings = findFindings([{ statements }]);
    expect(findings).toEqual([
      {
        kind: 'n-plus-one',
        fingerprint: 'select "id", "first_name" from "customers" where "id" = $1',
        sql: CUSTOMER,
        turns: 1,
        statements: 6,
        maxPerTurn: 6,
        bytes: 600,
      },
    ]);
  });

  it('reports the same SQL and params sent twice as a duplicate', () => {
    const statements = [st(1, CUSTOMER, ['7']), st(2, 'select 1', []), st(3, CUSTOMER, ['7'])];
    const findings = findFindings([{ statements }]);
    expect(findings).toEqual([
      { kind: 'duplicate', fingerprint: fingerprintSql(CUSTOMER), sql: CUSTOMER, turns: 1, statements: 2, maxPerTurn: 2, bytes: 200 },
    ]);
  });

  it('reports one lookup repeated with the same params only as a duplicate', () => {
    const statements = [1, 2, 3, 4, 5, 6].map((i) => st(i, CUSTOMER, ['7']));
    expect(findFindings([{ statements }]).map((f) => [f.kind, f.statements, f.maxPerTurn])).toEqual([['duplicate', 6, 6]]);
  });

  it('needs the repetition within one turn', () => {
    const turns = [1, 2, 3].map((i) => ({ statements: [st(1, CUSTOMER, [String(i)])] }));
    expect(findFindings(turns)).toEqual([]);
  });

  it('aggregates over turns, counting turns, statements, bytes and the largest group', () => {
    const turn1 = [1, 2, 3].map((i) => st(i, CUSTOMER, [String(i)], 10));
    const turn2 = [1, 2, 3, 4, 5].map((i) => st(i, CUSTOMER, [String(i)], 10));
    const turn3 = [st(1, 'select 1')];
    const [finding] = findFindings([{ statements: turn1 }, { statements: turn3 }, { statements: turn2 }]);
    expect(finding).toMatchObject({ kind: 'n-plus-one', turns: 2, statements: 8, maxPerTurn: 5, bytes: 80 });
  });

  it('reports select-star per fingerprint, and sorts n-plus-one, duplicate, select-star, then bytes desc', () => {
    const statements = [
      st(1, 'select * from "products" where "user_id" = $1', ['1'], 500),
      st(2, 'select * from "faqs" where "user_id" = $1', ['1'], 900),
      st(3, CUSTOMER, ['1'], 10),
      st(4, CUSTOMER, ['2'], 10),
      st(5, 'select "name" from "website_sources" where "id" = $1', ['9'], 20),
      st(6, 'select "name" from "website_sources" where "id" = $1', ['9'], 20),
      st(7, 'select "name" from "website_sources" where "id" = $1', ['8'], 20),
    ];
    const findings = findFindings([{ statements }]);
    expect(findings.map((f) => [f.kind, f.fingerprint, f.bytes])).toEqual([
      ['n-plus-one', 'select "name" from "website_sources" where "id" = $1', 60],
      ['n-plus-one', fingerprintSql(CUSTOMER), 20],
      ['duplicate', 'select "name" from "website_sources" where "id" = $1', 40],
      ['select-star', 'select * from "faqs" where "user_id" = $1', 900],
      ['select-star', 'select * from "products" where "user_id" = $1', 500],
    ]);
  });

  it('groups by the parser fingerprint: IN lists of any length and inlined literals are one shape', () => {
    const statements = [
      st(1, 'select "id" from "pages" where "website_id" in ($1, $2)', ['a', 'b']),
      st(2, 'select "id" from "pages" where "website_id" in ($1, $2, $3)', ['a', 'b', 'c']),
      st(3, `select "id" from "pages" where "website_id" in ('d')`),
    ];
    expect(findFindings([{ statements }])).toEqual([
      {
        kind: 'n-plus-one',
        fingerprint: 'select "id" from "pages" where "website_id" in (...)',
        sql: statements[0]!.sql,
        turns: 1,
        statements: 3,
        maxPerTurn: 3,
        bytes: 300,
      },
    ]);
  });

  it('returns nothing for no statements', () => {
    expect(findFindings([])).toEqual([]);
    expect(findFindings([{ statements: [] }])).toEqual([]);
  });
});

describe('selectsStar', () => {
  it.each([
    ['select * from t', true],
    ['SELECT * FROM "customers" WHERE "id" = $1', true],
    ['select "t".* from t', true],
    ['select t.*, u.name from t join u on u.id = t.u', true],
    ['select a, public.t.* from t', true],
    ['select distinct * from t', true],
    ['select distinct on (a) * from t', true],
    ['select x from (select * from t) s', true],
    ['SELECT count(*) FROM t', false],
    ['select a * b from t', false],
    ['select "id", "name" from t', false],
    ["select '*' from t", false],
    ['select a from t -- select *', false],
    ['select "select *" from t', false],
    // A subquery's own list ends at its FROM; the outer list goes on after its parenthesis.
    ['select (select max(id) from u), * from t', true],
    ['select (select max(id) from u) as m, "t".* from t', true],
    ['select coalesce(a, b), * from t', true],
    ['select a from t where id in (select * from u)', true],
    ['select a from t union select * from u', true],
    // A quoted keyword does not end the list; ALL and DISTINCT ON (…) precede the first item.
    ['select "from", * from t', true],
    ['select all * from t', true],
    ['select distinct on (a, b) c, * from t', true],
    ['select f(a) * 2 from t', false],
    ['select a, b from t order by a', false],
    // Every field of a parenthesised value: `(t).*` is `t.*`, `(a).*` every field of a composite column.
    ['select (t).* from t', true],
    ['select (a).* from t', true],
    ['select id, ((t)).* from t', true],
    ['select (f(x)).* from t', true],
    ['select (a).b.* from t', true],
    ['select (a).b from t', false],
    ['select (a) * 2 from t', false],
    ['select count(*), (a).b from t', false],
    ['select (a, b) from t', false],
    // Only a parenthesis that opens the item: the server rejects these (a syntax error; "row
    // expansion via * is not supported here"), so they fetch nothing.
    ['select f(x).* from t', false],
    ['select 1 + (a).* from t', false],
    // Text the parser rejects reaches the scanner too (the lexical fallback): an unbalanced
    // parenthesis must not throw or end the outer list.
    ['select a) from t', false],
    ['select a), * from t', true],
  ])('%s ⇒ %s', (sql, expected) => {
    expect(selectsStar(sql)).toBe(expected);
  });
});

const PAGES = 'select * from "website_pages" where "website_id" = $1 limit $2';
const SOURCES = 'select "id", "name" from "website_sources" where "user_id" = $1';

/** How one turn used one column, as columnUsage reports it. */
function use(sql: string, column: string, used: boolean | null, statements: number, bytes: number): ColumnUse {
  return { fingerprintId: fingerprintId(sql), fingerprint: fingerprintSql(sql), sql, column, statements, bytes, used };
}

describe('findFindings: unused columns', () => {
  it('aggregates a column unused in some turns: turns, statements, largest per turn, payload bytes', () => {
    const turns = [
      {
        statements: [],
        columns: [use(PAGES, 'raw_content', false, 2, 60_000), use(PAGES, 'title', true, 2, 80), use(PAGES, 'summary', null, 2, 0)],
      },
      { statements: [], columns: [use(PAGES, 'raw_content', false, 1, 25_000), use(PAGES, 'title', true, 1, 40)] },
      // A turn whose prompt does show one of the values: not counted.
      { statements: [], columns: [use(PAGES, 'raw_content', true, 3, 90_000)] },
      { statements: [] },
    ];
    expect(findFindings(turns)).toEqual([
      {
        kind: 'unused-column',
        fingerprint: 'select * from "website_pages" where "website_id" = $1 limit $2',
        sql: PAGES,
        column: 'raw_content',
        turns: 2,
        statements: 3,
        maxPerTurn: 2,
        bytes: 85_000,
      },
    ]);
  });

  it('keeps columns of different statements apart and sorts them after the other kinds, by bytes, fingerprint, column', () => {
    const statements = [st(1, PAGES, ['1', '5'], 500)];
    const columns = [
      use(SOURCES, 'id', false, 1, 36),
      use(PAGES, 'id', false, 1, 36),
      use(PAGES, 'website_id', false, 1, 36),
      use(PAGES, 'raw_content', false, 1, 30_000),
    ];
    const findings = findFindings([{ statements, columns }]);
    expect(findings.map((f) => [f.kind, f.column ?? null, f.fingerprint, f.bytes])).toEqual([
      ['select-star', null, fingerprintSql(PAGES), 500],
      ['unused-column', 'raw_content', fingerprintSql(PAGES), 30_000],
      // Equal bytes: by fingerprint (`select "` sorts before `select *`), then column.
      ['unused-column', 'id', fingerprintSql(SOURCES), 36],
      ['unused-column', 'id', fingerprintSql(PAGES), 36],
      ['unused-column', 'website_id', fingerprintSql(PAGES), 36],
    ]);
  });

  it('groups a column over statements of one shape whatever their literals', () => {
    const a = 'select "id", "name" from "website_sources" where "user_id" = 1';
    const b = 'select "id", "name" from "website_sources" where "user_id" = 2';
    const findings = findFindings([
      { statements: [], columns: [use(a, 'id', false, 1, 36)] },
      { statements: [], columns: [use(b, 'id', false, 1, 36)] },
    ]);
    expect(findings).toMatchObject([{ kind: 'unused-column', column: 'id', fingerprint: fingerprintSql(SOURCES), turns: 2, statements: 2, bytes: 72 }]);
  });

  it('finds no unused columns when the turns carry no column usage', () => {
    expect(findFindings([{ statements: [st(1, SOURCES, ['1'])] }])).toEqual([]);
  });
});

describe('findings order', () => {
  beforeAll(() => initFingerprinting());

  it('same kind and bytes: by fingerprint, in byte order', () => {
    const statements = [st(1, 'select * from "b"'), st(2, 'select * from "a"'), st(3, 'select * from "C"')];
    expect(findFindings([{ statements }]).map((f) => f.fingerprint)).toEqual(['select * from "C"', 'select * from "a"', 'select * from "b"']);
  });
});
