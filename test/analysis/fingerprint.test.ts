import { describe, expect, it } from 'vitest';
import { fingerprintSql } from '../../src/core/analysis/fingerprint.js';

describe('fingerprintSql', () => {
  it.each([
    ['parameters $1..$12', 'select a from t where b = $1 and c = $12', 'select a from t where b = ? and c = ?'],
    ["strings with doubled quotes", "select 1 from t where name = 'O''Brien' and x = ''", 'select ? from t where name = ? and x = ?'],
    ["E'' strings with backslash escapes", "select E'it\\'s' || e'a\\\\' from t", 'select ? || ? from t'],
    ['dollar quotes', 'select $$x; $1 \'y\'$$, $tag$ a $ b $$ $tag$ from t', 'select ?, ? from t'],
    ['numbers', 'select 42, 3.14, .5, 1e10, 2.5E-3, 0x1F, 1_000 from t', 'select ?, ?, ?, ?, ?, ?, ? from t'],
    ['negative numbers', 'select -5 from t where a = -2.5 and b > -$3 limit -1', 'select ? from t where a = ? and b > ? limit ?'],
    ['subtraction keeps its operator', 'select a - 1, b-2, (c)-3 from t', 'select a - ?, b-?, (c)-? from t'],
    ['IN lists', 'select * from t where id in (1, 2, 3) and k IN($1,$2 , $3)', 'select * from t where id in (...) and k IN (...)'],
    ['a one-element IN list', 'select * from t where id IN ($1)', 'select * from t where id IN (...)'],
    ['an IN subquery is kept', 'select * from t where id in (select id from u)', 'select * from t where id in (select id from u)'],
    ['comments are dropped', 'select a -- the a\nfrom t /* a /* nested */ comment */ where b = 1', 'select a from t where b = ?'],
    [
      'text inside double-quoted identifiers is untouched',
      'select "we\'ird ""--x"" 1", "t 1"."col 2" from "t 1"',
      'select "we\'ird ""--x"" 1", "t 1"."col 2" from "t 1"',
    ],
    ['identifiers containing digits', 'select t1.col2, x3 from t1 join t22 on t1.a = t22.b', 'select t1.col2, x3 from t1 join t22 on t1.a = t22.b'],
    ['keyword case as written', 'SeLeCt A FROM B WHERE c = 1', 'SeLeCt A FROM B WHERE c = ?'],
    ['whitespace collapsed', '  select\n\ta,\n   b\nfrom   t  ', 'select a, b from t'],
    ['casts are kept', "select $1::int, '{}'::jsonb, d::text from t", 'select ?::int, ?::jsonb, d::text from t'],
    ['count(*) unchanged', 'SELECT count(*) FROM "messages"', 'SELECT count(*) FROM "messages"'],
  ])('%s', (_name, sql, expected) => {
    expect(fingerprintSql(sql)).toBe(expected);
  });

  it('gives an N+1 loop with literals and with parameters the same fingerprint', () => {
    const a = fingerprintSql('SELECT * FROM "customers" WHERE "id" = 17');
    const b = fingerprintSql('SELECT * FROM "customers" WHERE "id" = $1');
    expect(a).toBe(b);
    expect(a).toBe('SELECT * FROM "customers" WHERE "id" = ?');
  });

  it('collapses IN lists of any length to one fingerprint', () => {
    expect(fingerprintSql('select * from t where id in ($1, $2)')).toBe(
      fingerprintSql('select * from t where id in ($1, $2, $3, $4, $5)'),
    );
  });
});
