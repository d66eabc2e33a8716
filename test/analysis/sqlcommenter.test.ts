/**
 * sqlcommenter tags: parsed as the spec writes them (URL-encoded, single-quoted, `\'` escaped,
 * appended or prepended), never part of a fingerprint, and carried by findings as tag groups
 * without the per-request ones.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { findFindings } from '../../src/core/analysis/findings.js';
import { fingerprint, initFingerprinting } from '../../src/core/analysis/fingerprint.js';
import { formatTags, parseSqlCommenter, stableTags, stripSqlCommenter } from '../../src/core/analysis/sqlcommenter.js';
import { statementRecords } from '../../src/core/recorder.js';
import { statement } from '../report/report-fixture.js';

beforeAll(async () => {
  await initFingerprinting();
});

describe('parseSqlCommenter', () => {
  it('reads the pairs of an appended comment, URL-decoded, with escaped quotes', () => {
    expect(
      parseSqlCommenter(
        "SELECT * FROM orders WHERE id = 7 /*action='list',controller='orders',db_driver='django.db.backends.postgresql',framework='django%3A4.2',route='%5Eorders%2F%24',traceparent='00-5bd6-01'*/",
      ),
    ).toEqual({
      action: 'list',
      controller: 'orders',
      db_driver: 'django.db.backends.postgresql',
      framework: 'django:4.2',
      route: '^orders/$',
      traceparent: '00-5bd6-01',
    });
    expect(parseSqlCommenter("select 1 /*name='O\\'Brien%2C%20Ana'*/;")).toEqual({ name: "O'Brien, Ana" });
    expect(parseSqlCommenter("select 1 /* route = '%2Fx' , action='a' */\n")).toEqual({ route: '/x', action: 'a' });
  });

  it('reads a prepended comment (Rails can prepend its tags)', () => {
    expect(parseSqlCommenter("/*application='Shop',controller='carts'*/ SELECT 1")).toEqual({
      application: 'Shop',
      controller: 'carts',
    });
  });

  it('is null without a comment in that format: plain notes, unquoted values, a comment in the middle', () => {
    expect(parseSqlCommenter('select 1')).toBeNull();
    expect(parseSqlCommenter('select 1 /* a note */')).toBeNull();
    expect(parseSqlCommenter('select 1 /*application:Shop,controller:carts*/')).toBeNull();
    expect(parseSqlCommenter("select /*route='x'*/ 1")).toBeNull();
    expect(parseSqlCommenter("select 1 /*route='x' junk*/")).toBeNull();
    // Values not URL-encoded as the spec asks are kept as written.
    expect(parseSqlCommenter("select 1 /*route='100%'*/")).toEqual({ route: '100%' });
  });

  it('strips only a sqlcommenter comment', () => {
    expect(stripSqlCommenter("select 1 /*route='%2Fx'*/;")).toBe('select 1');
    expect(stripSqlCommenter("/*route='%2Fx'*/ select 1")).toBe('select 1');
    expect(stripSqlCommenter('select 1 /* note */')).toBe('select 1 /* note */');
  });

  it('stableTags drops the per-request and stack ones and sorts; formatTags prints key=value', () => {
    expect(
      stableTags({
        traceparent: 't',
        route: '/x',
        controller: 'c',
        ctxbench_turn: 'a',
        framework: 'django:4.2',
        db_driver: 'psycopg2',
      }),
    ).toEqual({
      controller: 'c',
      route: '/x',
    });
    expect(Object.keys(stableTags({ route: '/x', controller: 'c' })!)).toEqual(['controller', 'route']);
    expect(stableTags({ traceparent: 't' })).toBeNull();
    expect(stableTags(undefined)).toBeNull();
    expect(formatTags({ route: '/x', controller: 'c' })).toBe('controller=c route=/x');
  });
});

describe('fingerprints ignore sqlcommenter comments', () => {
  it('gives a tagged statement the fingerprint (text and id) of the same statement untagged', () => {
    const plain = 'select * from "orders" where "id" = 7';
    for (const tagged of [
      `${plain} /*controller='orders',route='%2Forders'*/`,
      `/*controller='orders'*/ ${plain}`,
      `${plain} /*traceparent='00-1-01'*/;`,
    ]) {
      expect(fingerprint(tagged)).toEqual(fingerprint(plain));
    }
    expect(fingerprint(plain).text).toBe('select * from "orders" where "id" = $1');
  });

  it('records carry the tags, only when the SQL has them', () => {
    const tracked = (sql: string) => ({
      sql,
      params: [],
      sentAt: 0,
      doneAt: 1,
      startsRoundTrip: true,
      rows: 0,
      wireBytes: 0,
      sentBytes: 0,
      payloadBytes: 0,
      command: 'SELECT 0',
      error: null,
    });
    const [tagged, plain] = statementRecords([tracked("select 1 /*route='%2Fx'*/"), tracked('select 1')], () => null);
    expect(tagged!.tags).toEqual({ route: '/x' });
    expect(tagged!.fingerprint).toBe(plain!.fingerprint);
    expect('tags' in plain!).toBe(false);
    expect(plain!.callSite).toBeNull();
  });
});

describe('findings and tags', () => {
  const sql = (id: number, comment: string) => `select * from "orders" where "id" = ${id} /*${comment}*/`;
  const orders = "controller='orders',route='%2Forders'";
  const tagged = (seq: number, text: string) => {
    const s = statement(seq, text);
    return { ...s, fingerprint: fingerprint(text).text, tags: parseSqlCommenter(text)!, callSite: null };
  };

  it('carry the distinct tag groups of their statements, per-request tags left out, first seen first', () => {
    const turn1 = [1, 2, 3].map((id) => tagged(id, sql(id, `${orders},traceparent='00-${id}-01'`)));
    const turn2 = [4, 5].map((id) => tagged(id, sql(id, "controller='customers',route='%2Fcustomers'")));
    const [nPlusOne, star] = findFindings([{ statements: turn1 }, { statements: turn2 }]);
    expect(nPlusOne).toMatchObject({
      kind: 'n-plus-one',
      statements: 5,
      turns: 2,
      fingerprint: 'select * from "orders" where "id" = $1',
    });
    expect(nPlusOne!.tags).toEqual([
      { controller: 'orders', route: '/orders' },
      { controller: 'customers', route: '/customers' },
    ]);
    expect(star!.kind).toBe('select-star');
    expect(star!.tags).toHaveLength(2);
    expect(nPlusOne!.callSites).toBeUndefined();
  });

  it('count the same statement sent twice as a duplicate even when only its per-request comment differs', () => {
    const twice = [1, 2].map((seq) => tagged(seq, sql(7, `${orders},traceparent='00-${seq}-01'`)));
    const kinds = findFindings([{ statements: twice }]).map((f) => f.kind);
    expect(kinds).toEqual(['duplicate', 'select-star']);
  });

  it('list at most five call sites and tag groups', () => {
    const many = Array.from({ length: 8 }, (_, i) => ({
      ...tagged(i + 1, sql(i, `route='r${i}'`)),
      callSite: `src/x.ts:${i + 1}`,
    }));
    const [f] = findFindings([{ statements: many }]);
    expect(f!.callSites).toEqual(['src/x.ts:1', 'src/x.ts:2', 'src/x.ts:3', 'src/x.ts:4', 'src/x.ts:5']);
    expect(f!.tags).toHaveLength(5);
  });
});
