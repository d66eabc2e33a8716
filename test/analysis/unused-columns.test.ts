import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnUsage, valueUsed } from '../../src/core/analysis/column-usage.js';
import { fingerprintSql, initFingerprinting } from '../../src/core/analysis/fingerprint.js';
import { statementValues } from '../../src/core/recorder.js';
import { runStrategies } from '../../src/core/runner.js';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import { optimizedStrategy } from '../../src/core/strategies/optimized-strategy.js';
import { listTurns } from '../../src/core/turns.js';
import type { Turn } from '../../src/core/types.js';
import {
  StatementTracker,
  dataRowValues,
  type CapturedValues,
  type TrackedStatement,
} from '../../src/core/wire/statement-tracker.js';
import { loadFixtures } from '../../src/db/fixtures.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import type { Finding, StrategyReport } from '../../src/report/model.js';
import { describeFinding, foldFindings, renderTable, UNUSED_COLUMNS_LISTED } from '../../src/report/table.js';
import { twoStrategyReport } from '../report/report-fixture.js';
import { backendKinds, seededBackend, type TestBackend } from '../support/backends.js';

beforeAll(async () => {
  await initFingerprinting();
});

// Backend messages built by hand, as the server would send them.
function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const TEXT = 25;
const INT4 = 23;
const BOOL = 16;
const JSONB = 3802;
function rowDescriptionBody(columns: { name: string; typeOid: number }[]): Buffer {
  const parts = [Buffer.from([columns.length >> 8, columns.length & 0xff])];
  for (const c of columns) {
    const field = Buffer.alloc(18);
    field.writeUInt32BE(c.typeOid, 6);
    field.writeInt16BE(-1, 10);
    field.writeInt32BE(-1, 12);
    parts.push(Buffer.from(`${c.name}\0`), field);
  }
  return Buffer.concat(parts);
}
function dataRowBody(values: (string | null)[]): Buffer {
  const parts = [Buffer.from([values.length >> 8, values.length & 0xff])];
  for (const v of values) {
    const length = Buffer.alloc(4);
    if (v === null) {
      length.writeInt32BE(-1, 0);
      parts.push(length);
    } else {
      const bytes = Buffer.from(v);
      length.writeInt32BE(bytes.length, 0);
      parts.push(length, bytes);
    }
  }
  return Buffer.concat(parts);
}
const query = (sql: string) => message('Q', Buffer.from(`${sql}\0`));
const ready = message('Z', Buffer.from('I'));

/** Captured values of one result, built by hand. */
function captured(columns: { name: string; typeOid: number }[], rows: (string | null)[][], truncated = false): CapturedValues {
  return {
    results: [{ columns: columns.map((c) => ({ ...c, format: 0 })), rows: rows.map(dataRowBody) }],
    truncated,
    bytes: 0,
  };
}

describe('valueUsed', () => {
  const prompt = [
    'Business: Casa Verde',
    '- Lamp [decor] 19.90',
    '  Tags: garden, outdoor',
    '  Content: Our summer collection is here: lamps, chairs and tables for every balcony and terrace.',
    'Order 1234 ships on 2025-10-04; free shipping: true',
  ].join('\n');
  it.each([
    ['text that appears', 'Casa Verde', TEXT, true],
    ['text that does not', 'Casa Roja', TEXT, false],
    [
      'a long text whose start is the excerpt shown',
      `Our summer collection is here: lamps, chairs and tables for every balcony and terrace. ${'x'.repeat(5000)}`,
      TEXT,
      true,
    ],
    ['a long text that is not there at all', `<html><head><title>Summer</title></head>${'y'.repeat(5000)}`, TEXT, false],
    ['NULL', null, TEXT, null],
    ['empty text', '', TEXT, null],
    ['a number as text', '1234', INT4, true],
    ['a number only inside another number', '123', INT4, false],
    ['a number only as the decimal part', '90', INT4, false],
    ['a decimal as the database writes it', '19.90', 1700, true],
    ['a boolean that is written', 't', BOOL, true],
    ['a boolean that is not', 'f', BOOL, false],
    ['a JSON array with a string leaf shown', '["garden", "sale"]', JSONB, true],
    ['a JSON object with no string leaf shown', '{"color": "red", "size": 3}', JSONB, false],
    ['a JSON container without string leaves', '[1, 2]', JSONB, null],
    ['an empty JSON array', '[]', JSONB, null],
    ['a text array with an element shown', '{outdoor,"new in"}', 1009, true],
    ['a timestamp shown as its date', '2025-10-04 09:00:00+00', 1184, true],
    ['a timestamp not shown', '2024-01-01 09:00:00+00', 1184, false],
  ])('%s', (_name, value, typeOid, expected) => {
    expect(valueUsed(value, typeOid, prompt)).toBe(expected);
  });

  it('finds values in a canonical-JSON prompt (another schema): escaped text, ISO dates', () => {
    const json = JSON.stringify({ note: 'say "hi"\nthen leave', at: '2025-10-04T09:00:00.000Z', id: '42' }, null, 2);
    expect(valueUsed('say "hi"\nthen leave', TEXT, json)).toBe(true);
    expect(valueUsed('2025-10-04 09:00:00+00', 1184, json)).toBe(true);
    expect(valueUsed('42', 20, json)).toBe(true);
    expect(valueUsed('4', 20, json)).toBe(false);
  });
});

describe('columnUsage', () => {
  const sql = 'select * from "website_pages" where "website_id" = $1';
  const columns = [
    { name: 'id', typeOid: TEXT },
    { name: 'title', typeOid: TEXT },
    { name: 'raw_content', typeOid: TEXT },
    { name: 'summary', typeOid: TEXT },
  ];
  const prompt = 'Page: Shipping <https://x.test/ship>\nPage: Returns';

  it('judges each column over every statement of one shape, with its payload bytes', () => {
    const uses = columnUsage(
      [
        { sql, values: captured(columns, [['p1', 'Shipping', '<html>a</html>', null]]) },
        { sql: sql.replace('$1', "'w2'"), values: captured(columns, [['p2', 'Returns', '<html>bb</html>', '']]) },
        { sql: 'select 1 as one', values: captured([{ name: 'one', typeOid: INT4 }], [['1']]) },
      ],
      prompt,
    );
    const byColumn = Object.fromEntries(uses.map((u) => [u.column, { used: u.used, statements: u.statements, bytes: u.bytes }]));
    expect(byColumn).toEqual({
      id: { used: false, statements: 2, bytes: 4 },
      title: { used: true, statements: 2, bytes: 15 },
      raw_content: { used: false, statements: 2, bytes: 29 },
      // Only NULL and empty values: nothing to tell.
      summary: { used: null, statements: 2, bytes: 0 },
      one: { used: false, statements: 1, bytes: 1 },
    });
    expect(uses.find((u) => u.column === 'raw_content')).toMatchObject({ fingerprint: fingerprintSql(sql), sql });
  });

  it('does not call a column unused when the capture was cut short', () => {
    const [use] = columnUsage([{ sql, values: captured(columns.slice(2, 3), [['<html/>']], true) }], prompt);
    expect(use).toMatchObject({ column: 'raw_content', used: null, bytes: 7 });
  });
});

describe('StatementTracker value capture', () => {
  const traffic = Buffer.concat([
    message(
      'T',
      rowDescriptionBody([
        { name: 'id', typeOid: INT4 },
        { name: 'body', typeOid: TEXT },
      ]),
    ),
    message('D', dataRowBody(['1', 'x'.repeat(300)])),
    message('D', dataRowBody(['2', null])),
    message('D', dataRowBody(['3', 'é'.repeat(100)])),
    message('C', Buffer.from('SELECT 3\0')),
    ready,
  ]);

  function run(options: ConstructorParameters<typeof StatementTracker<string>>[2], tag = 'x', cut = (b: Buffer) => [b]) {
    const seen: TrackedStatement<string>[] = [];
    const tracker = new StatementTracker<string>(
      () => tag,
      (s) => seen.push(s),
      options,
    );
    tracker.fromClient(query('select id, body from t'));
    for (const piece of cut(traffic)) tracker.fromServer(piece);
    return seen[0]!;
  }

  it('keeps nothing by default', () => {
    const s = run({});
    expect(s).toMatchObject({ rows: 3, payloadBytes: 303 + 200 });
    expect('values' in s).toBe(false);
  });

  it('keeps column names, types and every field, however the stream is cut', () => {
    const whole = run({ captureValues: true });
    const byteByByte = run({ captureValues: true }, 'x', (b) => [...b].map((x) => Buffer.from([x])));
    for (const s of [whole, byteByByte]) {
      expect(s.values!.truncated).toBe(false);
      expect(s.values!.results).toHaveLength(1);
      expect(s.values!.results[0]!.columns).toEqual([
        { name: 'id', typeOid: INT4, format: 0 },
        { name: 'body', typeOid: TEXT, format: 0 },
      ]);
      expect(s.values!.results[0]!.rows.map((r) => dataRowValues(r).map((v) => v?.toString('utf8') ?? null))).toEqual([
        ['1', 'x'.repeat(300)],
        ['2', null],
        ['3', 'é'.repeat(100)],
      ]);
      // Measuring is unchanged by capturing.
      expect(s).toMatchObject({ rows: 3, payloadBytes: 503, wireBytes: traffic.length });
    }
  });

  it('captures only statements whose tag asks for it', () => {
    expect(run({ captureValues: (tag) => tag === 'yes' }, 'no').values).toBeUndefined();
    expect(run({ captureValues: (tag) => tag === 'yes' }, 'yes').values?.results[0]!.rows).toHaveLength(3);
  });

  it('stops at the capture limit and marks the statement truncated, still measuring every row', () => {
    const s = run({ captureValues: true, captureLimitBytes: 200 });
    expect(s.values!.truncated).toBe(true);
    // The description fits; the first 300-byte row does not, so nothing after it is kept.
    expect(s.values!.results[0]!.rows).toHaveLength(0);
    expect(s.values!.bytes).toBeLessThanOrEqual(200);
    expect(s).toMatchObject({ rows: 3, payloadBytes: 503, wireBytes: traffic.length });
  });
});

describe('unused columns in reports', () => {
  const finding = (column: string, bytes: number): Finding => ({
    kind: 'unused-column',
    fingerprint: 'select * from "website_pages" where "website_id" = $1',
    sql: 'select *\n  from "website_pages"\n  where "website_id" = $1',
    column,
    turns: 4,
    statements: 8,
    maxPerTurn: 2,
    bytes,
  });

  it('describes one by its column and its payload bytes', () => {
    expect(describeFinding(finding('raw_content', 1_234_000))).toEqual({
      label: 'unused column raw_content',
      perTurn: null,
      sql: 'select * from "website_pages" where "website_id" = $1',
      extent: '8 statements in 4 turns, 1.2 MB payload',
    });
  });

  it(`lists the first ${UNUSED_COLUMNS_LISTED} and sums the rest, in the table and in markdown`, () => {
    const report = twoStrategyReport();
    const unused = ['raw_content', 'meta_keywords', 'h1_tags', 'h2_tags', 'links', 'crawled_at', 'word_count'].map((c, i) =>
      finding(c, 10_000 - i * 1000),
    );
    report.strategies[0]!.findings.push(...unused);
    const { listed, folded } = foldFindings(report.strategies[0]!.findings);
    expect(listed.filter((f) => f.kind === 'unused-column').map((f) => f.column)).toEqual(
      unused.slice(0, 5).map((f) => f.column),
    );
    expect(folded).toEqual({ count: 2, bytes: 5000 + 4000 });

    const table = renderTable(report, { color: false });
    expect(table).toContain(
      '    unused column raw_content: select * from "website_pages" where "website_id" = $1  (8 statements in 4 turns, 10.0 kB payload)\n',
    );
    expect(table).toContain('    unused columns: 2 more, 9.0 kB payload (--format json lists them all)\n');
    expect(table).not.toContain('crawled_at');
    const markdown = renderMarkdown(report);
    expect(markdown).toContain(
      '  - **unused column raw\\_content** `select * from "website_pages" where "website_id" = $1` (8 statements in 4 turns, 10.0 kB payload)\n',
    );
    expect(markdown).toContain('  - **unused columns** 2 more, 9.0 kB payload (`--format json` lists them all)\n');
  });
});

describe.each(backendKinds)('unused columns of naive and optimized on tiny (%s)', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;
  let turns: Turn[];
  let naive: StrategyReport;
  let optimized: StrategyReport;
  const unused = (r: StrategyReport): Finding[] => r.findings.filter((f) => f.kind === 'unused-column');

  beforeAll(async () => {
    backend = await seededBackend(kind, 'tiny');
    session = await openSession(backend.url);
    turns = await listTurns(
      session.control,
      (await loadFixtures()).map((f) => f.id),
    );
    [naive, optimized] = (await runStrategies(session, turns, [naiveStrategy, optimizedStrategy])) as [
      StrategyReport,
      StrategyReport,
    ];
  });

  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  /** What the pages and websites each turn reads weigh, derived from the data (docs/design.md §3.5). */
  async function websiteFigures(turn: Turn) {
    const { rows } = await session.control.raw(
      `with w as (
         select w.id from messages m join conversations c on c.id = m.conversation_id
         cross join lateral (select id from website_sources s where s.user_id = c.user_id order by s.updated_at desc, s.id asc limit 2) w
         where m.id = ?),
       p as (
         select p.raw_content from w
         cross join lateral (select raw_content from website_pages p where p.website_id = w.id and p.processing_status = 'completed'
                             order by p.updated_at desc, p.id asc limit 5) p)
       select (select count(*) from w)::int as websites,
              (select coalesce(sum(octet_length(id::text)), 0) from w)::int as website_id_bytes,
              (select count(*) from p)::int as pages,
              (select coalesce(sum(octet_length(raw_content)), 0) from p)::int as raw_bytes`,
      [turn.messageId],
    );
    return rows[0] as { websites: number; website_id_bytes: number; pages: number; raw_bytes: number };
  }

  it("reports naive's raw_content first, weighing exactly the raw HTML of the pages it fetched", async () => {
    let rawBytes = 0;
    let turnsWithPages = 0;
    let statements = 0;
    for (const turn of turns) {
      const f = await websiteFigures(turn);
      rawBytes += f.raw_bytes;
      if (f.pages > 0) {
        turnsWithPages += 1;
        statements += f.websites;
      }
    }
    expect(rawBytes).toBeGreaterThan(0);
    const [top] = unused(naive);
    expect(top).toEqual({
      kind: 'unused-column',
      fingerprint:
        'select * from "website_pages" where "website_id" = $1 and "processing_status" = $2 order by "updated_at" desc, "id" asc limit $3',
      sql: expect.stringContaining('from "website_pages"'),
      column: 'raw_content',
      turns: turnsWithPages,
      statements,
      maxPerTurn: 2,
      bytes: rawBytes,
    });
  });

  it('reports for naive the columns its SELECT * fetches for nothing, and none the prompt shows', () => {
    const found = new Set(unused(naive).map((f) => `${/from "(\w+)"/.exec(f.fingerprint)?.[1]}.${f.column}`));
    for (const c of ['website_pages.raw_content', 'website_pages.meta_keywords', 'products.features', 'conversations.title']) {
      expect(found).toContain(c);
    }
    const shown = [
      'website_pages.cleaned_content',
      'website_pages.summary',
      'website_pages.title',
      'website_pages.url',
      'products.title',
      'products.description',
      'products.price',
      'products.tags',
      'messages.content',
      'ai_prompts.manual_prompt',
      'users.business_name',
      'website_sources.name',
      'faqs.question',
      'faqs.answer',
    ];
    for (const c of shown) expect(found).not.toContain(c);
  });

  it('reports few for optimized: the website ids it fetches only to read their pages', async () => {
    let idBytes = 0;
    let turnsWithWebsites = 0;
    for (const turn of turns) {
      const f = await websiteFigures(turn);
      idBytes += f.website_id_bytes;
      if (f.websites > 0) turnsWithWebsites += 1;
    }
    const found = unused(optimized);
    expect(found.length).toBeLessThanOrEqual(3);
    expect(found.find((f) => f.fingerprint.includes('from "website_sources"'))).toMatchObject({
      column: 'id',
      turns: turnsWithWebsites,
      statements: turnsWithWebsites,
      bytes: idBytes,
    });
    expect(found.some((f) => f.column === 'raw_content' || f.column === 'excerpt')).toBe(false);
  });

  it('keeps captured values out of the report: measured statements carry none', () => {
    for (const report of [naive, optimized]) {
      for (const t of report.turnDetails) {
        for (const s of t.statements) {
          expect(statementValues(s)).toBeUndefined();
          expect(Object.keys(s).sort()).toEqual(
            [
              'seq',
              'sql',
              'params',
              'fingerprint',
              'section',
              'durationMs',
              'rows',
              'wireBytes',
              'sentBytes',
              'payloadBytes',
              'command',
              'error',
              'roundTrip',
              'callSite',
            ].sort(),
          );
        }
      }
    }
  });

  it('fingerprints every statement with the parser', () => {
    for (const report of [naive, optimized]) {
      for (const t of report.turnDetails) for (const s of t.statements) expect(s.fingerprint).not.toMatch(/^\/\* unparsed \*\//);
    }
  });
});
