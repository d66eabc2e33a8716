/**
 * The baseline gate on hand-built reports: every metric, every tolerance form, the ratchet,
 * and the file checks — exact results, no database.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareWithBaseline, loadBaseline, parseTolerance, renderBaseline, snapshot, tighten, type Baseline } from '../../src/core/baseline.js';
import { METRICS } from '../../src/core/budget.js';
import { UsageError } from '../../src/core/errors.js';
import type { Report, StrategyReport, TurnDetail } from '../../src/report/model.js';
import { twoStrategyReport as fixtureReport, statement } from '../report/report-fixture.js';

function turn(label: string, figures: Partial<Record<(typeof METRICS)[number], number>>, sqls: string[] = []): TurnDetail {
  return {
    turn: label,
    conversationId: null,
    messageId: null,
    queries: 10,
    roundTrips: 10,
    bytes: 1000,
    payloadBytes: 800,
    rows: 20,
    ...figures,
    promptBytes: 1,
    promptSha256: 'x',
    latencyMs: [1],
    contextIdentical: true,
    statements: sqls.map((sql, i) => statement(i + 1, sql)),
  };
}

function reportOf(...strategies: [string, TurnDetail[]][]): Report {
  const base = fixtureReport();
  return {
    ...base,
    strategies: strategies.map(([name, turnDetails]): StrategyReport => ({ ...base.strategies[0]!, name, turnDetails })),
  };
}

describe('compareWithBaseline', () => {
  const baseline = snapshot(reportOf(['s', [turn('t1', {}, ['select $1', 'select $1', 'select 2'])]]));

  it('passes on equal figures and reports nothing', () => {
    const r = compareWithBaseline(reportOf(['s', [turn('t1', {}, ['select $1', 'select $1', 'select 2'])]]), baseline, 'b.json');
    expect(r).toEqual({
      passed: true,
      file: 'b.json',
      regressions: [],
      improvements: [],
      added: [],
      removed: [],
      missingTurns: [],
      newTurns: [],
      compared: 1,
      datasetChecked: true,
      updated: false,
    });
  });

  it.each(METRICS)('%s: one above the baseline is a regression, one below an improvement', (metric) => {
    const then = baseline.strategies.s!.t1![metric];
    const up = compareWithBaseline(reportOf(['s', [turn('t1', { [metric]: then + 1 })]]), baseline, 'b.json');
    expect(up.passed).toBe(false);
    expect(up.regressions).toEqual([{ strategy: 's', turn: 't1', metric, baseline: then, actual: then + 1 }]);
    expect(up.improvements).toEqual([]);
    const down = compareWithBaseline(reportOf(['s', [turn('t1', { [metric]: then - 1 })]]), baseline, 'b.json');
    expect(down.passed).toBe(true);
    expect(down.regressions).toEqual([]);
    expect(down.improvements).toEqual([{ strategy: 's', turn: 't1', metric, baseline: then, actual: then - 1 }]);
  });

  it('an absolute tolerance allows exactly that much growth', () => {
    const tolerance = parseTolerance('rows=2');
    const at = compareWithBaseline(reportOf(['s', [turn('t1', { rows: 22 })]]), baseline, 'b.json', tolerance);
    expect(at.passed).toBe(true);
    expect(at.regressions).toEqual([]);
    const over = compareWithBaseline(reportOf(['s', [turn('t1', { rows: 23 })]]), baseline, 'b.json', tolerance);
    expect(over.regressions).toEqual([{ strategy: 's', turn: 't1', metric: 'rows', baseline: 20, actual: 23 }]);
    // Only the metric named: queries still has none.
    const other = compareWithBaseline(reportOf(['s', [turn('t1', { queries: 11 })]]), baseline, 'b.json', tolerance);
    expect(other.regressions.map((c) => c.metric)).toEqual(['queries']);
  });

  it('a relative tolerance allows that fraction of the baseline, rounded down', () => {
    // 5% of 1000 bytes is 50; 5% of 800 payload bytes is 40; 15% of 10 queries is 1.5 → 1.
    const tolerance = parseTolerance('bytes=5%,payloadBytes=5%,queries=15%');
    const at = compareWithBaseline(reportOf(['s', [turn('t1', { bytes: 1050, payloadBytes: 840, queries: 11 })]]), baseline, 'b.json', tolerance);
    expect(at.regressions).toEqual([]);
    const over = compareWithBaseline(reportOf(['s', [turn('t1', { bytes: 1051, payloadBytes: 841, queries: 12 })]]), baseline, 'b.json', tolerance);
    expect(over.regressions.map((c) => [c.metric, c.actual])).toEqual([
      ['queries', 12],
      ['bytes', 1051],
      ['payloadBytes', 841],
    ]);
  });

  it('lists fingerprints sent more or less often, sorted, with both counts', () => {
    const r = compareWithBaseline(reportOf(['s', [turn('t1', {}, ['select $1', 'select 3', 'select 3'])]]), baseline, 'b.json');
    expect(r.added).toEqual([{ strategy: 's', turn: 't1', section: null, fingerprint: 'select 3', baseline: 0, actual: 2 }]);
    expect(r.removed).toEqual([
      { strategy: 's', turn: 't1', section: null, fingerprint: 'select 2', baseline: 1, actual: 0 },
      { strategy: 's', turn: 't1', section: null, fingerprint: 'select ?', baseline: 2, actual: 1 },
    ]);
    // Fingerprint changes alone do not fail the gate.
    expect(r.passed).toBe(true);
  });

  it('lists added fingerprints sorted, even when a grown one was in the baseline and a new one sorts before it', () => {
    const base = snapshot(reportOf(['s', [turn('t1', {}, ['select b'])]]));
    const r = compareWithBaseline(reportOf(['s', [turn('t1', {}, ['select a', 'select b', 'select b'])]]), base, 'b.json');
    expect(r.added.map((c) => [c.fingerprint, c.baseline, c.actual])).toEqual([
      ['select a', 0, 1],
      ['select b', 1, 2],
    ]);
  });

  it('a baseline turn without fingerprints counts every fingerprint as added', () => {
    const base = snapshot(reportOf(['s', [turn('t1', {}, ['select 1'])]]));
    delete (base.strategies.s!.t1 as { fingerprints?: unknown }).fingerprints;
    delete base.strategies.s!.t1!.sections;
    const r = compareWithBaseline(reportOf(['s', [turn('t1', {}, ['select 1'])]]), base, 'b.json');
    expect(r.added).toEqual([{ strategy: 's', turn: 't1', fingerprint: 'select 1', baseline: 0, actual: 1 }]);
  });

  it('compares per section: a statement moved to another section is removed from one and added to the other', () => {
    const inSections = (pairs: [string | null, string][]) =>
      turn('t1', {}, []).statements.concat(pairs.map(([section, sql], i) => statement(i + 1, sql, [], { section })));
    const before = { ...turn('t1', {}), statements: inSections([['faqs', 'select f'], ['faqs', 'select f'], [null, 'select q']]) };
    const after = { ...turn('t1', {}), statements: inSections([['faqs', 'select f'], ['pages', 'select f'], [null, 'select q']]) };
    const base = snapshot(reportOf(['s', [before]]));
    expect(base.strategies.s!.t1!.sections).toEqual({ '': { 'select q': 1 }, faqs: { 'select f': 2 } });
    const r = compareWithBaseline(reportOf(['s', [after]]), base, 'b.json');
    expect(r.added).toEqual([{ strategy: 's', turn: 't1', section: 'pages', fingerprint: 'select f', baseline: 0, actual: 1 }]);
    expect(r.removed).toEqual([{ strategy: 's', turn: 't1', section: 'faqs', fingerprint: 'select f', baseline: 2, actual: 1 }]);
  });

  it('a baseline without sections (an earlier snapshot) is compared on whole turns, naming no section', () => {
    const base = snapshot(reportOf(['s', [turn('t1', {}, ['select 1'])]]));
    delete base.strategies.s!.t1!.sections;
    const r = compareWithBaseline(reportOf(['s', [turn('t1', {}, ['select 1', 'select 2'])]]), base, 'b.json');
    expect(r.added).toEqual([{ strategy: 's', turn: 't1', fingerprint: 'select 2', baseline: 0, actual: 1 }]);
    expect(r.removed).toEqual([]);
  });

  it('names turns and strategies only one side has', () => {
    const r = compareWithBaseline(reportOf(['s', [turn('t2', {})]], ['new', [turn('t1', {}), turn('t3', {})]]), baseline, 'b.json');
    expect(r.newTurns).toEqual([
      { strategy: 'new', turn: 't1' },
      { strategy: 'new', turn: 't3' },
      { strategy: 's', turn: 't2' },
    ]);
    expect(r.missingTurns).toEqual([{ strategy: 's', turn: 't1' }]);
    expect(r.passed).toBe(true);
  });
});

describe('snapshot and tighten', () => {
  it('sorts any number of strategies and fingerprints, whatever their order in the report', () => {
    const b = snapshot(
      reportOf(
        ['m', [turn('t1', {}, ['select m', 'select z', 'select a', 'select m', 'select b'])]],
        ['z', [turn('t1', {})]],
        ['a', [turn('t1', {})]],
        ['b', [turn('t1', {})]],
      ),
    );
    expect(Object.keys(b.strategies)).toEqual(['a', 'b', 'm', 'z']);
    expect(Object.entries(b.strategies.m!.t1!.fingerprints)).toEqual([
      ['select a', 1],
      ['select b', 1],
      ['select m', 2],
      ['select z', 1],
    ]);
  });

  it('snapshots strategies sorted by name, fingerprints sorted with counts', () => {
    const b = snapshot(reportOf(['z', [turn('t1', {}, ['select b', 'select a', 'select b'])]], ['a', [turn('t1', { rows: 3 })]]));
    expect(Object.keys(b.strategies)).toEqual(['a', 'z']);
    expect(b.strategies.z!.t1).toEqual({
      queries: 10,
      roundTrips: 10,
      rows: 20,
      bytes: 1000,
      payloadBytes: 800,
      fingerprints: { 'select a': 1, 'select b': 2 },
      sections: { '': { 'select a': 1, 'select b': 2 } },
    });
    expect(Object.keys(b.strategies.z!.t1!.fingerprints)).toEqual(['select a', 'select b']);
    expect(b.strategies.a!.t1!.rows).toBe(3);
    expect(b.version).toBe(1);
    expect(renderBaseline(b)).toBe(`${JSON.stringify(b, null, 2)}\n`);
  });

  it('lowers every improved figure, never raises one, and keeps turns the run did not replay', () => {
    const baseline = snapshot(reportOf(['s', [turn('t1', {}, ['select 1']), turn('t2', {})]]));
    const tightened = tighten(baseline, reportOf(['s', [turn('t1', { queries: 8, bytes: 1200, rows: 19 }, ['select 9'])]]));
    expect(tightened.strategies.s!.t1).toEqual({
      queries: 8,
      roundTrips: 10,
      rows: 19,
      bytes: 1000,
      payloadBytes: 800,
      fingerprints: { 'select 9': 1 },
      sections: { '': { 'select 9': 1 } },
    });
    expect(tightened.strategies.s!.t2).toEqual(baseline.strategies.s!.t2);
    expect(tightened.dataset).toEqual(baseline.dataset);
  });

  it('keeps a strategy the run did not replay as it was', () => {
    const baseline = snapshot(reportOf(['gone', [turn('t1', {})]], ['s', [turn('t1', {})]]));
    const tightened = tighten(baseline, reportOf(['s', [turn('t1', { rows: 1 })]]));
    expect(tightened.strategies.gone).toEqual(baseline.strategies.gone);
    expect(tightened.strategies.s!.t1!.rows).toBe(1);
  });
});

describe('parseTolerance', () => {
  it('reads absolute numbers and percentages, spaces and empty parts ignored', () => {
    expect(parseTolerance(' bytes=5%, rows=2 ,,queries=1.5')).toEqual({ bytes: { relative: 0.05 }, rows: { absolute: 2 }, queries: { absolute: 1.5 } });
    expect(parseTolerance('')).toEqual({});
    expect(parseTolerance('queries=1.25,rows=10.5%')).toEqual({ queries: { absolute: 1.25 }, rows: { relative: 0.105 } });
    for (const bad of ['rows=2x', '-rows=2', 'rows=2%%', 'rows=.5', 'rows=1.']) expect(() => parseTolerance(bad), bad).toThrow(UsageError);
  });

  it('rejects every bad part at once, naming it', () => {
    let error: unknown;
    try {
      parseTolerance('bytes=x,latency=5,rows=-1,rows=2');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    const message = (error as Error).message;
    for (const bad of ['"bytes=x"', '"latency=5"', '"rows=-1"']) expect(message).toContain(bad);
    expect(message).not.toContain('"rows=2"');
    expect(message).toContain('queries, roundTrips, bytes, payloadBytes, rows');
  });
});

describe('loadBaseline', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-baseline-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function load(name: string, text: string): Promise<string> {
    const file = path.join(dir, name);
    await writeFile(file, text);
    try {
      await loadBaseline(file);
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message.replaceAll(dir + path.sep, '');
    }
  }

  it('reads a file it wrote', async () => {
    const b: Baseline = snapshot(reportOf(['s', [turn('t1', {})]]));
    const file = path.join(dir, 'good.json');
    await writeFile(file, renderBaseline(b));
    expect(await loadBaseline(file)).toEqual(b);
  });

  it('an unreadable path that exists is reported with its error, not as missing', async () => {
    let message = '';
    try {
      await loadBaseline(dir);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      message = (e as Error).message;
    }
    expect(message).toMatch(new RegExp(`^--baseline: cannot read ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: it is a directory`));
    expect(message).not.toContain('no such file');
  });

  it('names the file and what to do when it is missing', async () => {
    await expect(loadBaseline(path.join(dir, 'none.json'))).rejects.toThrow(
      `--baseline: cannot read ${path.join(dir, 'none.json')}: no such file (create it with "ctxbench snapshot --output ${path.join(dir, 'none.json')}")`,
    );
  });

  it('names the file, the field and the expectation for bad content', async () => {
    expect(await load('bad.json', '{')).toMatch(/^bad\.json: not valid JSON \(/);
    expect(await load('v2.json', '{"version":2,"strategies":{}}')).toBe('v2.json: version: expected 1 (a file written by "ctxbench snapshot")');
    expect(await load('null.json', 'null')).toBe('null.json: version: expected 1 (a file written by "ctxbench snapshot")');
    expect(await load('nostrat.json', '{"version":1,"strategies":null}')).toBe('nostrat.json: strategies: expected an object');
    expect(await load('strat5.json', '{"version":1,"strategies":5}')).toBe('strat5.json: strategies: expected an object');
    expect(await load('nullturn.json', '{"version":1,"strategies":{"s":{"t1":null}}}')).toContain('nullturn.json: strategies.s["t1"].queries: expected a number');
    const figures = await load('fig.json', '{"version":1,"strategies":{"s":{"t1":{"queries":1,"roundTrips":"2","bytes":1,"payloadBytes":1}}}}');
    expect(figures).toContain('fig.json: strategies.s["t1"].roundTrips: expected a number');
    expect(figures).toContain('fig.json: strategies.s["t1"].rows: expected a number');
    expect(figures).not.toContain('.queries');
    const ok = '"queries":1,"roundTrips":1,"bytes":1,"payloadBytes":1,"rows":1,"fingerprints":{}';
    for (const bad of ['[]', '{"faqs":5}', '{"faqs":{"select 1":"2"}}', 'null']) {
      expect(await load('sections.json', `{"version":1,"strategies":{"s":{"t1":{${ok},"sections":${bad}}}}}`)).toBe(
        'sections.json: strategies.s["t1"].sections: expected section → fingerprint → number of statements',
      );
    }
    expect(await load('sections-ok.json', `{"version":1,"strategies":{"s":{"t1":{${ok},"sections":{"":{"select 1":2}}}}}}`)).toBe('ok');
  });
});
