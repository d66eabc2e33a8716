import { beforeAll, describe, expect, it } from 'vitest';
import {
  fingerprint,
  fingerprintId,
  fingerprintParserReady,
  fingerprintSql,
  initFingerprinting,
  isUnparsedFingerprint,
  redactLiterals,
  UNPARSED_PREFIX,
} from '../../src/core/analysis/fingerprint.js';

beforeAll(async () => {
  await initFingerprinting();
});

describe('fingerprintSql (PostgreSQL parser)', () => {
  it('has the parser loaded from the installed package, offline', () => {
    expect(fingerprintParserReady()).toBe(true);
  });

  it.each([
    ['parameters, renumbered in order of appearance', 'select a from t where b = $1 and c = $12', 'select a from t where b = $1 and c = $2'],
    ['a parameter keeps its number where it recurs', 'select a from t where b = $3 or c = $3 or d = $1', 'select a from t where b = $1 or c = $1 or d = $2'],
    ["strings with doubled quotes, and the empty string", "select 1 from t where name = 'O''Brien' and x = ''", 'select $1 from t where name = $2 and x = $3'],
    ["E'' strings with backslash escapes", "select E'it\\'s' || e'a\\\\' from t", 'select $1 || $2 from t'],
    ['dollar quotes', "select $$x; $1 'y'$$, $tag$ a $ b $$ $tag$ from t", 'select $1, $2 from t'],
    ['numbers of every notation', 'select 42, 3.14, .5, 1e10, 2.5E-3, 0x1F, 1_000 from t', 'select $1, $2, $3, $4, $5, $6, $7 from t'],
    ['negative numbers are one value', 'select -5 from t where a = -2.5 and b > 1', 'select $1 from t where a = $2 and b > $3'],
    ['booleans, NULL, bit strings, typed literals', "select true, null, B'101', X'ff', interval '1 day', date '2020-01-01' from t", 'select $1, $2, $3, $4, interval $5, date $6 from t'],
    ['literals mixed with parameters', "select * from t where a = 'y' and b = $1", 'select * from t where a = $1 and b = $2'],
    ['LIMIT and OFFSET values', 'select * from t where a = $1 limit 10 offset 20', 'select * from t where a = $1 limit $2 offset $3'],
    ['IN lists', 'select * from t where id in (1, 2, 3) and k IN($1,$2 , $3)', 'select * from t where id in (...) and k IN (...)'],
    ['a one-element IN list', 'select * from t where id IN ($1)', 'select * from t where id IN (...)'],
    ['NOT IN lists', "select * from t where s not in ('a', 'b')", 'select * from t where s not in (...)'],
    ['an IN subquery is kept', 'select * from t where id in (select id from u)', 'select * from t where id in (select id from u)'],
    ['comments are dropped', 'select a -- the a\nfrom t /* a /* nested */ comment */ where b = 1', 'select a from t where b = $1'],
    [
      'text inside double-quoted identifiers is untouched',
      'select "we\'ird ""--x"" 1", "t 1"."col 2" from "t 1"',
      'select "we\'ird ""--x"" 1", "t 1"."col 2" from "t 1"',
    ],
    ['keyword case as written', 'SeLeCt A FROM B WHERE c = 1', 'SeLeCt A FROM B WHERE c = $1'],
    ['whitespace collapsed, a trailing semicolon dropped', '  select\n\ta,\n   b\nfrom   t  ;', 'select a, b from t'],
    ['casts and type modifiers are kept', "select $1::int, '{}'::jsonb, d::text, a::numeric(10,2) from t", 'select $1::int, $2::jsonb, d::text, a::numeric(10,2) from t'],
    ['count(*) unchanged', 'SELECT count(*) FROM "messages"', 'SELECT count(*) FROM "messages"'],
    ['several statements', 'select 1; select 2', 'select $1; select $2'],
    ['writes', "insert into t (a, b) values (1, 'x'), (2, 'y')", 'insert into t (a, b) values ($1, $2), ($3, $4)'],
  ])('%s', (_name, sql, expected) => {
    expect(fingerprintSql(sql)).toBe(expected);
    expect(fingerprint(sql).parsed).toBe(true);
  });

  it('gives an N+1 loop with literals and with parameters the same fingerprint and id', () => {
    const a = 'SELECT * FROM "customers" WHERE "id" = 17';
    const b = 'SELECT * FROM "customers" WHERE "id" = $1';
    expect(fingerprintSql(a)).toBe('SELECT * FROM "customers" WHERE "id" = $1');
    expect(fingerprintSql(b)).toBe(fingerprintSql(a));
    expect(fingerprintId(b)).toBe(fingerprintId(a));
  });

  it('gives IN lists of any length one fingerprint and one id', () => {
    const two = 'select * from t where id in ($1, $2) and a = $3';
    const five = "select * from t where id in (1, 2, 3, 4, 5) and a = 'x'";
    expect(fingerprintSql(two)).toBe('select * from t where id in (...) and a = $1');
    expect(fingerprintSql(five)).toBe(fingerprintSql(two));
    expect(fingerprintId(five)).toBe(fingerprintId(two));
  });

  it('ignores comments in the id', () => {
    expect(fingerprintId('/* app=web */ select a from t where b = 1 -- x')).toBe(fingerprintId('select a from t where b = 2'));
  });

  it('gives different shapes different ids', () => {
    const ids = new Set(
      [
        'select * from t where a = 1',
        'select * from t where c = 1',
        'select * from u where a = 1',
        'select a from t',
        'select * from t where a = 1 and c = 2',
        'update t set a = 1',
      ].map(fingerprintId),
    );
    expect(ids.size).toBe(6);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('fingerprintSql fallback', () => {
  it('normalises SQL the parser rejects lexically, and flags it', () => {
    const sql = "selec 1 from t where a = 'x' and b in (1, 2) -- c";
    expect(fingerprintSql(sql)).toBe(`${UNPARSED_PREFIX}selec $1 from t where a = $2 and b in (...)`);
    expect(fingerprint(sql).parsed).toBe(false);
    expect(isUnparsedFingerprint(fingerprintSql(sql))).toBe(true);
    expect(isUnparsedFingerprint(fingerprintSql('select 1'))).toBe(false);
    // Still groups: literals do not change the id.
    expect(fingerprintId(sql)).toMatch(/^unparsed:[0-9a-f]{16}$/);
    expect(fingerprintId("selec 2 from t where a = 'y' and b in (3) -- d")).toBe(fingerprintId(sql));
  });

  it('never throws, whatever the input', () => {
    const inputs = ['', '   ', ';', "select 'unterminated", 'select $$', '/* open', 'select \u0000 1', ')'.repeat(1000), 'select ' + '('.repeat(5000) + '1'];
    for (const sql of inputs) {
      expect(() => fingerprint(sql)).not.toThrow();
      expect(typeof fingerprintSql(sql)).toBe('string');
    }
    // Text past a NUL would go unseen by the parser: such SQL is not claimed as parsed.
    expect(fingerprint('select \u0000 1').parsed).toBe(false);
    // Nesting beyond the parser's stack depth falls back, and leaves the parser working.
    expect(fingerprint(`select ${'('.repeat(100_000)}1${')'.repeat(100_000)}`).parsed).toBe(false);
    expect(fingerprint('select 2 from t where a = 1')).toMatchObject({ text: 'select $1 from t where a = $2', parsed: true });
  });

  it('shows a statement of comments only as written (the tracker marks unknown statements so)', () => {
    expect(fingerprint('/* sync */')).toMatchObject({ text: '/* sync */', parsed: true });
    expect(fingerprintId('/* prepared statement "a" */')).not.toBe(fingerprintId('/* prepared statement "b" */'));
  });

  it('costs little: an N+1 loop parses its SQL once', () => {
    const sql = 'select * from "website_sources" where "id" = $1 limit $2 /* cost test */';
    const first = fingerprint(sql);
    expect(fingerprint(sql)).toBe(first);
  });
});

describe('redactLiterals', () => {
  const mark = (literal: string) => `<${literal}>`;

  it("replaces every kind of constant the scanner knows, keeping comments, parameters and non-ASCII text in place", () => {
    expect(
      redactLiterals(
        "select 'é€😀', E'a\\'b', $$x$$, $t$y$t$, N'n', B'101', X'ff', U&'d\\0061t', 42, -3.5e2, 1_000 /* 'c' */ from t where a = $1 -- 'z'",
        mark,
      ),
    ).toBe(
      "select <'é€😀'>, <E'a\\'b'>, <$$x$$>, <$t$y$t$>, N<'n'>, <B'101'>, <X'ff'>, <U&'d\\0061t'>, <42>, -<3.5e2>, <1_000> /* 'c' */ from t where a = $1 -- 'z'",
    );
  });

  it('falls back to the lexical scan for text the scanner rejects (an unterminated string)', () => {
    expect(redactLiterals("selec 'x', 7 /* 'k' */ 'y", mark)).toBe("selec <'x'>, <7> /* 'k' */ <'y>");
  });
});
