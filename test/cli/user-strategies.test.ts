/**
 * User strategy files and --turns, through the CLI in-process (TypeScript loads with no build).
 */
import { describe, expect, it } from 'vitest';
import { runInProcess as run } from '../support/cli.js';


const dir = 'test/cli/strategies';

describe('user strategies', () => {
  it('a strategy whose SQL fails: exit 1 naming the file, the turn and the SQL', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--conversation', 'en-first-1', '--strategies', `naive,${dir}/throws.ts`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      // The last line (a first run may say it is seeding before it).
      /^ctxbench: strategy "throws" \(test\/cli\/strategies\/throws\.ts\) failed on turn en-first-1\/\w+: column "no_such_column" does not exist \(SQL: select no_such_column from messages where id = \$1\)\n$/m,
    );
  });

  it('--turns hands arbitrary objects to build and compares returned objects as canonical JSON', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--turns', `${dir}/turns.json`, '--strategies', `${dir}/own-turns.mjs,${dir}/own-turns-other.mjs`, '--format', 'json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.baseline).toBe('own');
    const [own, other] = report.strategies;
    expect(own.source).toBe(`${dir}/own-turns.mjs`);
    expect(own.turnDetails.map((t: { turn: string; queries: number; rows: number; payloadBytes: number }) => [t.turn, t.queries, t.rows, t.payloadBytes])).toEqual([
      ['t1', 1, 1, 1],
      ['t2', 1, 1, 1],
      ['t3', 1, 1, 1],
    ]);
    // Key order does not matter (canonical JSON); the value of t3 does.
    expect(other.turnDetails.map((t: { contextIdentical: boolean }) => t.contextIdentical)).toEqual([true, true, false]);
    expect(other.difference.turn).toBe('t3');
    expect(other.difference.diff).toContain('-  "doubled": 6,');
    expect(other.difference.diff).toContain('+  "doubled": -1,');
  });

  it('--baseline-strategy chooses the reference', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--turns', `${dir}/turns.json`, '--strategies', `${dir}/own-turns.mjs,${dir}/own-turns-other.mjs`, '--baseline-strategy', 'other', '--format', 'json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.baseline).toBe('other');
    expect(report.strategies[0].contextIdentical).toBe(false);
    expect(report.strategies[1].contextIdentical).toBe(true);
  });

  it('a malformed --turns file is exit 2 naming the file and every bad line', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--turns', `${dir}/bad-turns.ndjson`, '--strategies', `${dir}/own-turns.mjs`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${dir}/bad-turns.ndjson: line 3: not valid JSON`);
    expect(r.stderr).toContain(`${dir}/bad-turns.ndjson: turn 2: expected an object, got an array`);
  });
});

describe('strategies that hang or escape the read-only transaction', () => {
  it('a build over --turn-timeout fails its strategy: exit 1 naming the file, the turn and the limit', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--strategies', `${dir}/hangs.ts`, '--turn-timeout', '1s']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ctxbench: strategy "hangs" \(test\/cli\/strategies\/hangs\.ts\) timed out after 1 s on turn [\w-]+\/\w+\n$/m);
    expect(r.stdout).toBe('');
  });

  it('--turn-timeout must be a duration', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--turn-timeout', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ctxbench: --turn-timeout: expected a duration such as 5s or 500ms, got "soon"\n');
  });

  it('a strategy that sends COMMIT; BEGIN; SET TRANSACTION READ WRITE fails as one that tried to write (exit 1)', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--conversation', 'en-first-1', '--strategies', `naive,${dir}/escapes.ts`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^ctxbench: strategy "escapes" \(test\/cli\/strategies\/escapes\.ts\) tried to write by leaving the read-only transaction on turn en-first-1\/\w+: it sent "commit", which ctxbench did not forward\n$/m,
    );
  });
});
