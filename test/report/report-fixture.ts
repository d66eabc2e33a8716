/** Small hand-built reports for the renderer tests. */
import type { StatementRecord } from '../../src/core/types.js';
import type { Report, StrategyReport } from '../../src/report/model.js';

export function statement(seq: number, sql: string, params: (string | null)[] = [], extra: Partial<StatementRecord> = {}): StatementRecord {
  return {
    seq,
    sql,
    params,
    fingerprint: sql.replace(/\$\d+/g, '?'),
    section: null,
    durationMs: 0.25,
    rows: 1,
    wireBytes: 100,
    sentBytes: 40,
    payloadBytes: 60,
    command: 'SELECT 1',
    error: null,
    roundTrip: seq,
    ...extra,
  };
}

const naive: StrategyReport = {
  name: 'naive',
  source: null,
  sections: [],
  turns: 4,
  perTurn: {
    queries: 27.25,
    roundTrips: 27.25,
    bytes: 312_400,
    payloadBytes: 290_100,
    rows: 45.5,
    promptBytes: 8_200,
    latencyMs: { p50: 3.1, p95: 4.25, max: 5 },
  },
  totals: { queries: 109, roundTrips: 109, bytes: 1_249_600, payloadBytes: 1_160_400, rows: 182 },
  contextIdentical: true,
  difference: null,
  findings: [
    {
      kind: 'n-plus-one',
      fingerprint: 'SELECT * FROM "customers" WHERE "id" = ?',
      sql: 'SELECT * FROM "customers" WHERE "id" = $1',
      turns: 4,
      statements: 24,
      maxPerTurn: 6,
      bytes: 48_000,
    },
    {
      kind: 'select-star',
      fingerprint: 'SELECT * FROM "website_pages" WHERE "website_id" = ?',
      sql: 'SELECT *\n  FROM "website_pages"\n  WHERE "website_id" = $1',
      turns: 4,
      statements: 8,
      maxPerTurn: 2,
      bytes: 1_100_000,
    },
  ],
  turnDetails: [],
};

const optimized: StrategyReport = {
  name: 'optimized',
  source: null,
  sections: [],
  turns: 4,
  perTurn: {
    queries: 7,
    roundTrips: 7,
    bytes: 28_000,
    payloadBytes: 21_000,
    rows: 40,
    promptBytes: 8_200,
    latencyMs: { p50: 1, p95: 1.5, max: 2 },
  },
  totals: { queries: 28, roundTrips: 28, bytes: 112_000, payloadBytes: 84_000, rows: 160 },
  contextIdentical: true,
  difference: null,
  findings: [],
  turnDetails: [],
};

/** A two-strategy report: naive (baseline) against optimized. */
export function twoStrategyReport(): Report {
  return {
    version: 1,
    tool: { name: 'ctxbench', version: '0.1.0' },
    database: { kind: 'pglite', serverVersion: '17.5', url: null },
    dataset: { scale: 'tiny', seed: 42 },
    repeat: 5,
    baseline: 'naive',
    strategies: [structuredClone(naive), structuredClone(optimized)],
    contextIdentical: true,
  };
}

/** Three strategies, the last one producing a different prompt. */
export function differingReport(): Report {
  const report = twoStrategyReport();
  const batched: StrategyReport = {
    ...structuredClone(optimized),
    name: 'batched',
    perTurn: { ...structuredClone(optimized.perTurn), queries: 1, roundTrips: 1, bytes: 30_000, promptBytes: 8_190 },
    contextIdentical: false,
    difference: {
      turn: 'fa-shop-1/k3J9aQ0bZx',
      conversationId: 'fa-shop-1',
      messageId: 'k3J9aQ0bZx',
      diff: '@@ -2,3 +2,3 @@\n CUSTOMER\n-Price: 19.90\n+Price: 19.9\n ',
    },
  };
  report.strategies.push(batched);
  report.contextIdentical = false;
  return report;
}
