/**
 * What changed between two runs, shape by shape: exact on hand-built turns, and end to end through
 * `compare --before --after` on two runs that differ by one statement.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapeChanges } from '../../src/core/analysis/shape-changes.js';
import type { TurnDetail } from '../../src/report/model.js';
import { runInProcess as run } from '../support/cli.js';
import { statement } from '../report/report-fixture.js';

function turn(label: string, sqls: [string, string | null][]): TurnDetail {
  return {
    turn: label,
    conversationId: null,
    messageId: null,
    queries: sqls.length,
    roundTrips: sqls.length,
    bytes: 0,
    payloadBytes: 0,
    rows: 0,
    promptBytes: 0,
    promptSha256: '',
    latencyMs: [1],
    contextIdentical: true,
    statements: sqls.map(([sql, section], i) => statement(i + 1, sql, [], { section })),
  };
}

describe('shapeChanges', () => {
  it('counts per turn and section; unchanged shapes and turns on one side only are left out', () => {
    const before = [
      turn('t1', [['select a', 'x'], ['select c where id = $1', 'y'], ['select c where id = $1', 'y'], ['select d', null]]),
      turn('gone', [['select a', 'x']]),
    ];
    const after = [
      turn('t1', [['select a', 'x'], ['select c where id = any($1)', 'y'], ['select d', null], ['select e', null]]),
      turn('new', [['select z', null]]),
    ];
    expect(shapeChanges(before, after)).toEqual([
      { turn: 't1', section: null, fingerprint: 'select e', before: 0, after: 1 },
      // Byte order: '?' sorts before 'a'.
      { turn: 't1', section: 'y', fingerprint: 'select c where id = ?', before: 2, after: 0 },
      { turn: 't1', section: 'y', fingerprint: 'select c where id = any(?)', before: 0, after: 1 },
    ]);
    expect(shapeChanges(before, before)).toEqual([]);
  });
});

describe('compare --before --after names the shapes added and removed', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-shapes-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('one statement more per turn: one added shape per turn, nothing removed', async () => {
    const common = ['compare', '--scale', 'tiny', '--conversation', 'en-first-1', '--format', 'json', '--tokenizer', 'none'];
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    expect((await run([...common, '--strategies', 'optimized', '--output', a])).code).toBe(0);
    expect((await run([...common, '--strategies', 'test/cli/strategies/optimized-plus-one.ts', '--output', b])).code).toBe(0);
    const r = await run(['compare', '--before', a, '--after', b, '--format', 'json']);
    const report = JSON.parse(r.stdout);
    const turns = report.strategies[1].turnDetails.map((t: { turn: string }) => t.turn);
    expect(turns.length).toBeGreaterThan(0);
    expect(report.shapeChanges).toEqual(
      turns.map((turn: string) => ({ turn, section: null, fingerprint: 'select business_name from users where id = $1', before: 0, after: 1 })),
    );
    const table = await run(['compare', '--before', a, '--after', b]);
    expect(table.stdout).toContain(`+ turn ${turns[0]}: 0× → 1×  select business_name from users where id = $1`);
  });
});
