import { describe, expect, it } from 'vitest';
import { findFindings, selectsStar } from '../../src/core/analysis/findings.js';
import { fingerprintSql } from '../../src/core/analysis/fingerprint.js';
import type { StatementRecord } from '../../src/core/types.js';

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
        fingerprint: 'select "id", "first_name" from "customers" where "id" = ?',
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
      ['n-plus-one', 'select "name" from "website_sources" where "id" = ?', 60],
      ['n-plus-one', fingerprintSql(CUSTOMER), 20],
      ['duplicate', 'select "name" from "website_sources" where "id" = ?', 40],
      ['select-star', 'select * from "faqs" where "user_id" = ?', 900],
      ['select-star', 'select * from "products" where "user_id" = ?', 500],
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
  ])('%s ⇒ %s', (sql, expected) => {
    expect(selectsStar(sql)).toBe(expected);
  });
});
