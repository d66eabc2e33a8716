import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStrategies } from '../../src/core/runner.js';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import { optimizedStrategy } from '../../src/core/strategies/optimized-strategy.js';
import { listTurns } from '../../src/core/turns.js';
import type { Turn } from '../../src/core/types.js';
import { loadFixtures } from '../../src/db/fixtures.js';
import type { StrategyReport } from '../../src/report/model.js';
import { backendKinds, seededBackend, type BackendKind, type TestBackend } from '../support/backends.js';
import { describeIf, NEEDS_SERVER } from '../support/skip.js';

/** Per-turn figures that must never vary for a given seed and scale. */
function exact(report: StrategyReport) {
  return report.turnDetails.map((t) => ({
    turn: `${t.conversationId}/${t.messageId}`,
    queries: t.queries,
    roundTrips: t.roundTrips,
    rows: t.rows,
    payloadBytes: t.payloadBytes,
    bytes: t.bytes,
    promptSha256: t.promptSha256,
  }));
}

const results = new Map<BackendKind, StrategyReport[]>();

describe.each(backendKinds)('naive and optimized on tiny (%s)', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;
  let turns: Turn[];
  let reports: StrategyReport[];

  beforeAll(async () => {
    backend = await seededBackend(kind, 'tiny');
    session = await openSession(backend.url);
    turns = await listTurns(session.control, (await loadFixtures()).map((f) => f.id));
    reports = await runStrategies(session, turns, [naiveStrategy, optimizedStrategy]);
    results.set(kind, reports);
  });

  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  it('sends exactly the statements Django would: 8 + customer + N+1 reads per turn for naive, 5 + one per website for optimized', async () => {
    const [naive, optimized] = reports;
    // Derive what each turn must cost from the data itself, independently of the strategies.
    for (const [i, turn] of turns.entries()) {
      const { rows } = await session.control.raw(
        `select
           (select count(*) from (select customer_id from messages h
              where h.conversation_id = m.conversation_id
                and (h.created_at, h.id collate "C") < (m.created_at, m.id collate "C")
              order by h.created_at desc, h.id collate "C" desc limit 6) x where customer_id is not null)::int as history_customers,
           (select count(*) from (select 1 from website_sources w where w.user_id = c.user_id limit 2) x)::int as websites,
           (select coalesce(sum(least(n, 5)), 0) from (select w.id, (select count(*) from website_pages p where p.website_id = w.id and p.processing_status = 'completed') as n
              from website_sources w where w.user_id = c.user_id order by w.updated_at desc, w.id limit 2) x)::int as pages,
           (c.customer_id is not null)::int as has_customer
         from messages m join conversations c on c.id = m.conversation_id where m.id = ?`,
        [turn.messageId],
      );
      const d = rows[0];
      const naiveExpected = 8 + d.has_customer + d.history_customers + d.websites + d.pages;
      expect({ turn: turn.messageId, queries: naive!.turnDetails[i]!.queries }).toEqual({ turn: turn.messageId, queries: naiveExpected });
      expect(optimized!.turnDetails[i]!.queries).toBe(5 + d.websites);
    }
    // And as plain numbers, so any change to what the strategies send is seen in review.
    expect(naive!.turnDetails.map((t) => t.queries)).toEqual(NAIVE_QUERIES);
    expect(optimized!.turnDetails.map((t) => t.queries)).toEqual(OPTIMIZED_QUERIES);
    // One statement at a time on one connection: every statement is a round trip.
    for (const r of reports) for (const t of r.turnDetails) expect(t.roundTrips).toBe(t.queries);
  });

  it('labels every statement with its docs/design.md §3 section; sections add up to the totals', () => {
    const [naive, optimized] = reports;
    expect(naive!.sections.map((s) => [s.name, s.totals.queries])).toEqual(NAIVE_SECTIONS);
    expect(optimized!.sections.map((s) => [s.name, s.totals.queries])).toEqual(OPTIMIZED_SECTIONS);
    for (const r of reports) {
      const sum = (k: 'queries' | 'bytes' | 'rows' | 'payloadBytes') => r.sections.reduce((a, s) => a + s.totals[k], 0);
      expect({ queries: sum('queries'), bytes: sum('bytes'), rows: sum('rows'), payloadBytes: sum('payloadBytes') }).toEqual({
        queries: r.totals.queries,
        bytes: r.totals.bytes,
        rows: r.totals.rows,
        payloadBytes: r.totals.payloadBytes,
      });
    }
  });

  it('builds the identical prompt with both strategies on every fixture turn', () => {
    const [naive, optimized] = reports;
    expect(naive!.turns).toBe(turns.length);
    expect(optimized!.contextIdentical).toBe(true);
    expect(optimized!.difference).toBeNull();
    expect(optimized!.turnDetails.map((t) => t.promptSha256)).toEqual(naive!.turnDetails.map((t) => t.promptSha256));
  });

  it('gives identical counts and bytes when run again', async () => {
    const again = await runStrategies(session, turns, [naiveStrategy, optimizedStrategy]);
    expect(again.map(exact)).toEqual(reports.map(exact));
  });

  it('fetches far less with optimized: at most 40% of naive bytes per turn on average', () => {
    const [naive, optimized] = reports;
    expect(optimized!.totals.bytes).toBeLessThanOrEqual(0.4 * naive!.totals.bytes);
    expect(naive!.totals).toEqual(NAIVE_TOTALS);
    expect(optimized!.totals).toEqual(OPTIMIZED_TOTALS);
  });
});

describeIf(backendKinds.length > 1, NEEDS_SERVER)('embedded and real PostgreSQL agree', () => {
  it('has the same queries, round trips, rows and payload bytes per turn on both', () => {
    const pick = (r: StrategyReport[]) =>
      r.map((s) => s.turnDetails.map(({ queries, roundTrips, rows, payloadBytes, promptSha256 }) => ({ queries, roundTrips, rows, payloadBytes, promptSha256 })));
    expect(pick(results.get('postgres')!)).toEqual(pick(results.get('pglite')!));
  });
});

// Exact figures on tiny, seed 1, the shipped fixtures.
// fa-shop-1 (6 turns), en-first-1 (4), es-casa-1 (4, a tenant with no websites or FAQs), en-edge-1 (4), de-care-1 (3).
const NAIVE_QUERIES = [21, 23, 25, 22, 23, 25, 27, 21, 23, 25, 27, 9, 11, 13, 15, 21, 23, 25, 27, 27, 27];
const OPTIMIZED_QUERIES = [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7];
const NAIVE_SECTIONS = [
  ['question', 21],
  ['system', 63],
  ['customer', 21],
  ['history', 88],
  ['products', 21],
  ['websites', 225],
  ['faqs', 21],
];
const OPTIMIZED_SECTIONS = [
  ['system', 21],
  ['history', 21],
  ['products', 21],
  ['websites', 55],
  ['faqs', 21],
];
// The same on PGlite 0.5 (PostgreSQL 18) and PostgreSQL 15: bytes are a property of the data.
const NAIVE_TOTALS = { queries: 460, roundTrips: 460, bytes: 6_638_479, payloadBytes: 6_401_428, rows: 918 };
const OPTIMIZED_TOTALS = { queries: 139, roundTrips: 139, bytes: 289_752, payloadBytes: 253_244, rows: 557 };
