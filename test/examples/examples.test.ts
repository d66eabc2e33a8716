/**
 * The examples in examples/, run with the real bin exactly as examples/README.md documents
 * them: they exit 0, build identical contexts, and cost the exact, deterministic number of
 * statements each strategy was designed for.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createServerDatabase, testCacheDir } from '../support/backends.js';
import { itIf, NEEDS_SERVER } from '../support/skip.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function ctxbench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/ctxbench.js', ...args],
      {
        cwd: root,
        env: { ...process.env, CTXBENCH_CACHE_DIR: testCacheDir, NO_COLOR: '1', DATABASE_URL: '' },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface Statement {
  section: string | null;
}
interface TurnDetail {
  turn: string;
  queries: number;
  roundTrips: number;
  rows: number;
  payloadBytes: number;
  bytes: number;
  contextIdentical: boolean;
  statements: Statement[];
}
interface StrategyReport {
  name: string;
  source: string | null;
  contextIdentical: boolean;
  sections: { name: string | null; perTurn: { queries: number } }[];
  findings: { kind: string }[];
  turnDetails: TurnDetail[];
}
interface Report {
  contextIdentical: boolean;
  database: { kind: string };
  strategies: StrategyReport[];
}

async function compareJson(args: string[]): Promise<Report> {
  const r = await ctxbench(['compare', ...args, '--format', 'json']);
  expect(r.stderr).not.toMatch(/error|failed|differs/i);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

/** Findings about how statements are sent (other kinds, such as unused columns, are advice on what they fetch). */
const STATEMENT_FINDINGS = ['n-plus-one', 'duplicate', 'select-star'];

function statementFindings(s: StrategyReport): string[] {
  return s.findings.map((f) => f.kind).filter((k) => STATEMENT_FINDINGS.includes(k));
}

function strategy(report: Report, name: string): StrategyReport {
  const s = report.strategies.find((x) => x.name === name);
  expect(s, `strategy ${name} in the report`).toBeDefined();
  return s!;
}

describe('examples/reference-strategy/lateral.ts', () => {
  it("builds naive's prompt in exactly 4 labelled statements per turn", async () => {
    const report = await compareJson(['--scale', 'tiny', '--strategies', 'naive,./examples/reference-strategy/lateral.ts']);
    expect(report.contextIdentical).toBe(true);
    expect(report.strategies.map((s) => s.name)).toEqual(['naive', 'lateral']);
    const lateral = strategy(report, 'lateral');
    expect(lateral.source).toBe('./examples/reference-strategy/lateral.ts');
    expect(lateral.contextIdentical).toBe(true);
    expect(lateral.turnDetails.length).toBeGreaterThan(0);
    for (const t of lateral.turnDetails) {
      expect(t.contextIdentical).toBe(true);
      expect(t.queries).toBe(4);
      expect(t.roundTrips).toBe(4);
      // One statement per section, in this order, every turn.
      expect(t.statements.map((s) => s.section)).toEqual(['conversation', 'products', 'websites', 'faqs']);
    }
    expect(lateral.sections.map((s) => [s.name, s.perTurn.queries])).toEqual([
      ['conversation', 1],
      ['products', 1],
      ['websites', 1],
      ['faqs', 1],
    ]);
    expect(statementFindings(lateral)).toEqual([]);
    // The baseline really is the N+1 one: more statements on every turn.
    const naive = strategy(report, 'naive');
    for (const [i, t] of naive.turnDetails.entries()) expect(t.queries).toBeGreaterThan(lateral.turnDetails[i]!.queries);
  }, 180_000);
});

describe('examples/own-schema', () => {
  const args = [
    '--turns',
    'examples/own-schema/turns.json',
    '--strategies',
    'examples/own-schema/naive.ts,examples/own-schema/joined.ts',
  ];

  /**
   * Per turn of turns.json: naive = ticket + customer + assignee (when assigned) + thread + one
   * author per comment shown (at most 8); joined = 2. Rows and payload bytes are properties of
   * the deterministic dataset, the same on every PostgreSQL.
   */
  const expected = {
    naive: {
      turns: ['ticket-4', 'ticket-7', 'ticket-10', 'ticket-12', 'ticket-13'],
      queries: [11, 12, 11, 12, 4],
      rows: [17, 19, 18, 19, 3],
      payloadBytes: [1016, 1152, 1135, 1145, 185],
    },
    joined: {
      turns: ['ticket-4', 'ticket-7', 'ticket-10', 'ticket-12', 'ticket-13'],
      queries: [2, 2, 2, 2, 2],
      rows: [8, 9, 9, 9, 1],
      payloadBytes: [575, 689, 645, 686, 117],
    },
  };

  function checkFigures(report: Report): void {
    expect(report.contextIdentical).toBe(true);
    expect(report.strategies.map((s) => s.name)).toEqual(['naive', 'joined']);
    for (const [name, e] of Object.entries(expected)) {
      const s = strategy(report, name);
      expect(s.contextIdentical).toBe(true);
      expect(s.turnDetails.map((t) => t.turn)).toEqual(e.turns);
      expect(s.turnDetails.map((t) => t.queries)).toEqual(e.queries);
      // No pipelining: one round trip per statement.
      expect(s.turnDetails.map((t) => t.roundTrips)).toEqual(e.queries);
      expect(s.turnDetails.map((t) => t.rows)).toEqual(e.rows);
      expect(s.turnDetails.map((t) => t.payloadBytes)).toEqual(e.payloadBytes);
      expect(s.sections.map((x) => x.name)).toEqual(['ticket', 'thread']);
    }
    expect(statementFindings(strategy(report, 'joined'))).toEqual([]);
    expect(statementFindings(strategy(report, 'naive'))).toEqual(
      expect.arrayContaining(['n-plus-one', 'duplicate', 'select-star']),
    );
  }

  it('the documented command runs end to end on the embedded database', async () => {
    const report = await compareJson(['--setup', 'examples/own-schema/schema.sql', ...args]);
    expect(report.database.kind).toBe('pglite');
    checkFigures(report);
  }, 180_000);

  itIf(process.env.CTXBENCH_TEST_DATABASE_URL, NEEDS_SERVER)(
    'the same figures on a real server loaded with psql-style schema.sql',
    async () => {
      const backend = await createServerDatabase();
      try {
        const client = new pg.Client({ connectionString: backend.url });
        await client.connect();
        try {
          // One simple query, as `psql -f` runs the script.
          await client.query(await readFile(new URL('../../examples/own-schema/schema.sql', import.meta.url), 'utf8'));
        } finally {
          await client.end();
        }
        const report = await compareJson(['--db', backend.url, ...args]);
        expect(report.database.kind).toBe('postgres');
        checkFigures(report);
      } finally {
        await backend.close();
      }
    },
    180_000,
  );
});
