/**
 * mergeReports on hand-made shards, for what real runs rarely show: SQL that differs from turn
 * to turn (literals inlined), a finding's shape seen in an earlier turn where it was not yet a
 * finding, the first differing prompt in the later shard, and shards without statements.
 */
import { describe, expect, it } from 'vitest';
import { findFindings } from '../../src/core/analysis/findings.js';
import { sectionFigures } from '../../src/core/runner.js';
import { mergeReports } from '../../src/commands/merge.js';
import type { StatementRecord } from '../../src/core/types.js';
import type { Report, StrategyReport, TurnDetail } from '../../src/report/model.js';

const SHAPE = 'select * from t where id = $1';

function statement(seq: number, id: number, section: string, roundTrip = seq): StatementRecord {
  return {
    seq,
    sql: `select * from t where id = ${id}`,
    params: [],
    fingerprint: SHAPE,
    section,
    durationMs: 0.1,
    rows: 1,
    wireBytes: 100 + id,
    sentBytes: 40,
    payloadBytes: 10 + id,
    command: 'SELECT 1',
    error: null,
    roundTrip,
  };
}

function turn(position: number, statements: StatementRecord[], identical = true): TurnDetail {
  return {
    turn: `c${position}/m${position}`,
    conversationId: `c${position}`,
    messageId: `m${position}`,
    queries: statements.length,
    roundTrips: new Set(statements.map((s) => s.roundTrip)).size,
    bytes: statements.reduce((a, s) => a + s.wireBytes, 0),
    payloadBytes: statements.reduce((a, s) => a + s.payloadBytes, 0),
    rows: statements.length,
    promptBytes: 100 + position,
    promptSha256: String(position).repeat(64).slice(0, 64),
    latencyMs: [position + 1, position + 0.5],
    contextIdentical: identical,
    statements,
  };
}

/** The unsharded run's turns: its N+1 first at position 1, its shape alone at position 0. */
const turns = [
  turn(0, [statement(1, 9, 'a')]),
  turn(1, [statement(1, 3, 'a'), statement(2, 4, 'b')], false),
  turn(2, [statement(1, 1, 'b'), statement(2, 2, 'b'), statement(3, 2, 'b')]),
  turn(3, [statement(1, 5, 'a'), statement(2, 6, 'a', 1)], false),
];

/** A shard's strategy report, with what the runner derives from its turns. */
function strategyOf(details: TurnDetail[]): StrategyReport {
  const firstDiffering = details.find((d) => !d.contextIdentical);
  return {
    name: 's',
    source: null,
    turns: details.length,
    perTurn: {
      queries: 0,
      roundTrips: 0,
      bytes: 0,
      payloadBytes: 0,
      rows: 0,
      promptBytes: 0,
      latencyMs: { p50: 0, p95: 0, max: 0 },
    },
    totals: { queries: 0, roundTrips: 0, bytes: 0, payloadBytes: 0, rows: 0 },
    contextIdentical: firstDiffering === undefined,
    difference: firstDiffering
      ? { turn: firstDiffering.turn, conversationId: null, messageId: null, diff: `diff at ${firstDiffering.turn}` }
      : null,
    findings: findFindings(details),
    sections: sectionFigures(details),
    turnDetails: details,
  };
}

function shardReport(
  index: number,
  positions: number[],
  transform: (d: TurnDetail) => TurnDetail = (d) => d,
): { file: string; report: Report } {
  return {
    file: `shard-${index}.json`,
    report: {
      version: 1,
      tool: { name: 'ctxbench', version: '0.1.0' },
      database: { kind: 'pglite', serverVersion: '18', url: null },
      dataset: { scale: 'tiny', seed: 1 },
      repeat: 2,
      tokenizer: null,
      baseline: 's',
      strategies: [strategyOf(positions.map((p) => transform(structuredClone(turns[p]!))))],
      contextIdentical: true,
      shard: { index, count: 2, totalTurns: 4, turnSetSha256: 'x'.repeat(64), positions },
    },
  };
}

describe('mergeReports', () => {
  // Shard 1 holds the later turns 1 and 3; shard 2 the turns 0 and 2.
  const merged = mergeReports([shardReport(1, [1, 3]), shardReport(2, [0, 2])]).strategies[0]!;

  it('adds the findings up and shows the SQL of the turn where each first occurred, as the unsharded run does', () => {
    const unsharded = findFindings(turns);
    expect(merged.findings).toEqual(unsharded);
    const nPlusOne = merged.findings.find((f) => f.kind === 'n-plus-one')!;
    // Not shard 1's "first" turn (position 1 is its first), nor the first turn with the shape (position 0).
    expect(nPlusOne).toMatchObject({ sql: 'select * from t where id = 3', turns: 3, statements: 7, maxPerTurn: 3 });
    expect(merged.findings.find((f) => f.kind === 'select-star')!.sql).toBe('select * from t where id = 9');
    expect(merged.findings.find((f) => f.kind === 'duplicate')).toMatchObject({ turns: 1, statements: 2 });
  });

  it('recomputes totals, sections and latency from the turns in the unsharded order', () => {
    expect(merged.turnDetails.map((t) => t.turn)).toEqual(['c0/m0', 'c1/m1', 'c2/m2', 'c3/m3']);
    expect(merged.totals).toEqual({ queries: 8, roundTrips: 7, bytes: 832, payloadBytes: 112, rows: 8 });
    expect(merged.sections).toEqual(sectionFigures(turns));
    expect(merged.perTurn).toEqual({
      queries: 2,
      roundTrips: 1.75,
      bytes: 208,
      payloadBytes: 28,
      rows: 2,
      promptBytes: 101.5,
      latencyMs: { p50: 2, p95: 4, max: 4 },
    });
  });

  it('reports the earliest differing turn, whichever shard holds it', () => {
    expect(merged.contextIdentical).toBe(false);
    expect(merged.difference!.turn).toBe('c1/m1');
    const later = mergeReports([
      shardReport(1, [1, 3], (d) => ({ ...d, contextIdentical: d.turn === 'c3/m3' ? false : true })),
      shardReport(2, [0, 2], (d) => ({ ...d, contextIdentical: d.turn !== 'c2/m2' })),
    ]).strategies[0]!;
    expect(later.difference!.turn).toBe('c2/m2');
  });

  it("without statements (turn summaries), adds the shards' sections and findings up", () => {
    const bare = (d: TurnDetail) => ({ ...d, statements: [] });
    const a = shardReport(1, [1, 3]);
    const b = shardReport(2, [0, 2]);
    // Sections and findings as the shards computed them before their statements were dropped.
    const strip = (s: { report: Report }) =>
      (s.report.strategies[0]!.turnDetails = s.report.strategies[0]!.turnDetails.map(bare));
    strip(a);
    strip(b);
    const summed = mergeReports([a, b]).strategies[0]!;
    expect(summed.totals).toEqual(merged.totals);
    expect(summed.sections.map((s) => [s.name, s.totals])).toEqual(
      merged.sections.map((s) => [s.name, s.totals]).sort(([x], [y]) => ((x ?? '') < (y ?? '') ? -1 : 1)),
    );
    expect(summed.findings.map(({ sql: _sql, ...f }) => f)).toEqual(merged.findings.map(({ sql: _sql, ...f }) => f));
  });
});
