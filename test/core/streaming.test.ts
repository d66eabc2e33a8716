/**
 * Flat memory (issue #16 item 5): the runner folds each turn as it comes, a spill keeps turn
 * details on disk, and the streamed JSON is the in-memory report's text, byte for byte.
 */
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FindingsAccumulator, findFindings } from '../../src/core/analysis/findings.js';
import { TurnDetailSpill } from '../../src/core/detail-spill.js';
import { figuresOf, meanFigures } from '../../src/core/figures.js';
import { runStrategies } from '../../src/core/runner.js';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import { batchedStrategy } from '../../src/core/strategies/batched-strategy.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import { optimizedStrategy } from '../../src/core/strategies/optimized-strategy.js';
import { listTurns } from '../../src/core/turns.js';
import type { StatementRecord, Turn } from '../../src/core/types.js';
import { loadFixtures } from '../../src/db/fixtures.js';
import { DETAIL_LEVELS, renderJson, renderJsonChunks } from '../../src/report/json.js';
import type { Report, SectionFigures, StrategyReport, TurnDetail } from '../../src/report/model.js';
import { backendKinds, seededBackend, type TestBackend } from '../support/backends.js';
import { statement, twoStrategyReport } from '../report/report-fixture.js';

async function collect(chunks: AsyncIterable<string>): Promise<{ text: string; pieces: number }> {
  let text = '';
  let pieces = 0;
  for await (const chunk of chunks) {
    text += chunk;
    pieces += 1;
  }
  return { text, pieces };
}

function detail(i: number, statements: StatementRecord[]): TurnDetail {
  return {
    turn: `c${i}/m${i}`,
    conversationId: `c${i}`,
    messageId: `m${i}`,
    ...figuresOf(statements),
    promptBytes: 100 + i,
    promptSha256: `sha-${i}`,
    latencyMs: [1.5, 2],
    contextIdentical: i % 3 !== 0,
    statements,
  };
}

/** A report whose first strategy has `n` details, its second none. */
function reportWith(n: number): Report {
  const report = twoStrategyReport();
  // Text that looks like the placeholder must come through as it is.
  const tricky = 'select "\u0000ctxbench-0000000000000000-0", \'ü ✓ \\n\' from t where a = $1';
  report.strategies[0]!.turnDetails = Array.from({ length: n }, (_, i) =>
    detail(i, [statement(1, tricky, [String(i)]), statement(2, 'select * from t where id = $1', [null], { section: 'history' })]),
  );
  report.strategies[1]!.turnDetails = [];
  return report;
}

describe('renderJsonChunks', () => {
  for (const level of DETAIL_LEVELS) {
    it(`writes, from a spill on disk, exactly what renderJson writes (--details ${level})`, async () => {
      for (const n of [0, 1, 2, 700]) {
        const report = reportWith(n);
        const spill = TurnDetailSpill.create(report.strategies.length, { statements: level === 'all' });
        try {
          report.strategies.forEach((s, i) => s.turnDetails.forEach((d) => spill.add(i, d)));
          const streamed = await collect(renderJsonChunks({ ...report, strategies: report.strategies.map((s) => ({ ...s, turnDetails: [] })) }, (s) => spill.read(s), { details: level }));
          expect(streamed.text).toBe(renderJson(report, { details: level }));
          // A long report comes in pieces, not as one string.
          if (n === 700 && level !== 'none') expect(streamed.pieces).toBeGreaterThan(2);
        } finally {
          spill.dispose();
        }
      }
    });
  }

  it('without a details source, streams the report’s own details: the same text, extra top-level fields (a recording’s) included', async () => {
    const report = { ...reportWith(300), recording: { units: 'markers', connections: [{ id: 1 }] } };
    const streamed = await collect(renderJsonChunks(report));
    expect(streamed.text).toBe(renderJson(report));
    expect(streamed.pieces).toBeGreaterThan(1);
  });

  it('renderJson --details summary drops only statements, none drops turnDetails, all is the report as it is', () => {
    const report = reportWith(2);
    const all = JSON.parse(renderJson(report));
    const summary = JSON.parse(renderJson(report, { details: 'summary' }));
    const none = JSON.parse(renderJson(report, { details: 'none' }));
    expect(all).toEqual(JSON.parse(JSON.stringify(report)));
    expect(Object.keys(summary.strategies[0].turnDetails[0])).toEqual(Object.keys(report.strategies[0]!.turnDetails[0]!).filter((k) => k !== 'statements'));
    expect(summary.strategies[0].turnDetails[1].promptSha256).toBe('sha-1');
    expect('turnDetails' in none.strategies[0]).toBe(false);
    expect(none.strategies[0].findings).toEqual(all.strategies[0].findings);
    expect(renderJson(report)).toBe(`${JSON.stringify(report, null, 2)}\n`);
  });
});

describe('TurnDetailSpill', () => {
  it('gives each strategy its own details back in order, and removes its files on dispose', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-spill-test-'));
    try {
      const spill = TurnDetailSpill.create(2, { dir });
      const made = Array.from({ length: 3000 }, (_, i) => detail(i, [statement(1, `select ${i}`)]));
      made.forEach((d, i) => spill.add(i % 2, d));
      const back: TurnDetail[] = [];
      for await (const d of spill.read(1)) back.push(d);
      expect(back).toEqual(made.filter((_, i) => i % 2 === 1));
      expect(readdirSync(dir)).toHaveLength(1);
      spill.dispose();
      spill.dispose();
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('drops statements as they are added with statements: false', async () => {
    const spill = TurnDetailSpill.create(1, { statements: false });
    try {
      spill.add(0, detail(1, [statement(1, 'select 1')]));
      const back: TurnDetail[] = [];
      for await (const d of spill.read(0)) back.push(d);
      expect(back).toHaveLength(1);
      expect('statements' in back[0]!).toBe(false);
      expect(back[0]!.queries).toBe(1);
    } finally {
      spill.dispose();
    }
  });
});

describe('FindingsAccumulator', () => {
  const turns = [
    { statements: [statement(1, 'select * from t where id = $1', ['1']), statement(2, 'select * from t where id = $1', ['2'])] },
    { statements: [statement(1, 'select a from u where id = $1', ['1']), statement(2, 'select a from u where id = $1', ['1'])] },
    { statements: [statement(1, 'select * from t where id = $1', ['3']), statement(2, 'select * from t where id = $1', ['4'])] },
  ];

  it('gives findFindings’ result turn by turn, and a result taken early does not change later', () => {
    const acc = new FindingsAccumulator();
    acc.addTurn(turns[0]!);
    const early = acc.result();
    const earlyText = JSON.stringify(early);
    acc.addTurn(turns[1]!);
    acc.addTurn(turns[2]!);
    expect(acc.result()).toEqual(findFindings(turns));
    expect(JSON.stringify(early)).toBe(earlyText);
    expect(early.find((f) => f.kind === 'n-plus-one')!.turns).toBe(1);
    expect(acc.result().find((f) => f.kind === 'n-plus-one')!.turns).toBe(2);
  });
});

/** Sections over all turns as the whole-run computation did them: the reference for the fold. */
function referenceSections(details: readonly TurnDetail[]): SectionFigures[] {
  const order: (string | null)[] = [];
  for (const d of details) for (const s of d.statements) if (!order.includes(s.section)) order.push(s.section);
  const n = details.length || 1;
  return order.map((name) => {
    const totals = figuresOf(details.flatMap((d) => d.statements.filter((s) => s.section === name)));
    totals.roundTrips = new Set(details.flatMap((d, i) => d.statements.filter((s) => s.section === name).map((s) => `${i}:${s.roundTrip}`))).size;
    return { name, totals, perTurn: meanFigures(totals, n) };
  });
}

/** The report without what the clock decides (latencies, statement durations): same key order. */
function withoutTimes<T extends Report | StrategyReport | TurnDetail>(value: T): T {
  return JSON.parse(JSON.stringify(value), (key, v) => (key === 'latencyMs' || key === 'durationMs' ? 0 : v)) as T;
}

describe.each(backendKinds)('a streamed run (%s)', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;
  let turns: Turn[];
  const strategies = [naiveStrategy, optimizedStrategy, batchedStrategy];

  beforeAll(async () => {
    backend = await seededBackend(kind, 'tiny');
    session = await openSession(backend.url);
    turns = await listTurns(session.control, (await loadFixtures()).map((f) => f.id));
  });
  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  it('folds to the report the in-memory run gives, and its JSON streamed from disk is that report’s JSON', async () => {
    const inMemory = await runStrategies(session, turns, strategies);
    const spill = TurnDetailSpill.create(strategies.length);
    try {
      const streamed = await runStrategies(session, turns, strategies, { onTurnDetail: (s, d) => spill.add(s, d) });
      expect(streamed.every((s) => s.turnDetails.length === 0)).toBe(true);
      expect(inMemory[0]!.turns).toBe(turns.length);
      const report = (strategies: StrategyReport[]): Report => ({
        version: 1,
        tool: { name: 'ctxbench', version: 'test' },
        database: { kind: 'pglite', serverVersion: 'x', url: null },
        dataset: null,
        repeat: 1,
        baseline: 'naive',
        strategies,
        contextIdentical: true,
      });
      const text = (await collect(renderJsonChunks(withoutTimes(report(streamed)), (s) => timeless(spill.read(s))))).text;
      expect(text).toBe(renderJson(withoutTimes(report(inMemory))));
      for (const s of inMemory) expect(s.sections).toEqual(referenceSections(s.turnDetails));
      // The folds saw the same turns: the figures are not all zero.
      expect(inMemory[0]!.totals.queries).toBeGreaterThan(turns.length);
      expect(inMemory[0]!.findings.some((f) => f.kind === 'n-plus-one')).toBe(true);
    } finally {
      spill.dispose();
    }
  });
});

async function* timeless(details: AsyncIterable<TurnDetail>): AsyncGenerator<TurnDetail> {
  for await (const d of details) yield withoutTimes(d);
}

it('a spill leaves nothing in the temporary directory once disposed', async () => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-spill-'));
  try {
    const spill = TurnDetailSpill.create(1, { dir: tmp });
    expect(readdirSync(tmp)).toHaveLength(1);
    spill.dispose();
    expect(readdirSync(tmp)).toEqual([]);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
