import { describe, expect, it } from 'vitest';
import { renderStatementsNdjson, renderStatementsTable } from '../../src/report/statements.js';
import { statement } from './report-fixture.js';

const turns = [
  {
    turn: 'c1/m1',
    conversationId: 'c1',
    messageId: 'm1',
    statements: [
      statement(1, 'select *\n  from "customers"\n  where "id" = $1', ['7'], { wireBytes: 1234, payloadBytes: 1000, durationMs: 0.125 }),
      statement(2, `select ${'x, '.repeat(60)}y from t`, [], {
        roundTrip: 1,
        rows: 0,
        command: null,
        error: 'relation "t" does not exist',
        durationMs: 12.3,
      }),
    ],
  },
  { turn: 'c2/m2', conversationId: 'c2', messageId: 'm2', statements: [] },
];

describe('renderStatementsTable', () => {
  it('shows a heading, one row per statement and a total per turn', () => {
    const text = renderStatementsTable(turns, { color: false });
    const lines = text.split('\n');
    expect(lines[0]).toBe('conversation c1 · message m1');
    expect(lines[2]).toMatch(/^│ # │ round trip │ rows │ wire bytes │ payload bytes │ +ms │ SQL +│$/);
    expect(lines[4]).toMatch(/^│ 1 │ +1 │ +1 │ +1,234 │ +1,000 │ +0\.13 │ select \* from "customers" where "id" = \$1 +│$/);
    // SQL is one line, cut at 100 characters, with the error after it.
    expect(lines[5]).toContain(`select ${'x, '.repeat(30)}x,… ✗ relation "t" does not exist`);
    expect(text).toContain('total: 2 statements, 1 round trip, 1 row, 1,334 wire bytes, 1,060 payload bytes, 12.43 ms, 1 failed');
    expect(text).toContain('conversation c2 · message m2\nno statements\n');
    expect(lines.filter((l) => /[ \t]$/.test(l))).toEqual([]);
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/\u001b\[/);
    // eslint-disable-next-line no-control-regex
    expect(renderStatementsTable(turns, { color: true })).toMatch(/\u001b\[/);
  });
});

describe('renderStatementsNdjson', () => {
  it('prints one JSON object per statement per line, keys in order', () => {
    const text = renderStatementsNdjson(turns);
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual([
      'turn',
      'conversationId',
      'messageId',
      'seq',
      'roundTrip',
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
      'callSite',
    ]);
    expect(first).toMatchObject({ conversationId: 'c1', messageId: 'm1', seq: 1, params: ['7'], wireBytes: 1234 });
    expect(JSON.parse(lines[1])).toMatchObject({ seq: 2, command: null, error: 'relation "t" does not exist' });
    expect(renderStatementsNdjson([])).toBe('');
  });

  it('carries each statement\'s call site, and its sqlcommenter tags when it has them', () => {
    const tagged = {
      turn: 't',
      conversationId: null,
      messageId: null,
      statements: [
        { ...statement(1, "select 1 /*route='%2Fx'*/", []), callSite: 'src/build.ts:12', tags: { route: '/x' } },
        { ...statement(2, 'select 2', []), callSite: null },
      ],
    };
    const [first, second] = renderStatementsNdjson([tagged]).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ callSite: 'src/build.ts:12', tags: { route: '/x' } });
    expect(Object.keys(first!).at(-1)).toBe('tags');
    expect(second!.callSite).toBeNull();
    expect('tags' in second!).toBe(false);
  });
});

describe('renderStatementsTable call sites', () => {
  it('adds a call-site column only when some statement has a call site or tags', () => {
    const withSites = [
      {
        turn: 't',
        conversationId: null,
        messageId: null,
        statements: [
          { ...statement(1, 'select 1', []), callSite: 'src/build.ts:12' },
          { ...statement(2, "select 2 /*controller='c',route='%2Fx'*/", []), callSite: null, tags: { controller: 'c', route: '/x' } },
        ],
      },
    ];
    const lines = renderStatementsTable(withSites, { color: false }).split('\n');
    expect(lines[2]).toMatch(/│ +ms │ call site +│ SQL +│$/);
    expect(lines[4]).toMatch(/│ src\/build\.ts:12 +│ select 1 +│$/);
    expect(lines[5]).toMatch(/│ controller=c route=\/x +│ select 2 /);
    expect(renderStatementsTable(turns, { color: false })).not.toContain('call site');
  });
});
