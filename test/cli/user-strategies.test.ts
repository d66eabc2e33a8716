/**
 * User strategy files and --turns, through the CLI in-process (TypeScript loads with no build).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInProcess as run, spawnCtxbench } from '../support/cli.js';


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

  it('a returned value JSON cannot hold (circular, BigInt) is that strategy failing on that turn: exit 1, one line', async () => {
    const circular = await run(['compare', '--scale', 'tiny', '--turns', `${dir}/turns.json`, '--strategies', `${dir}/own-turns.mjs,${dir}/returns-circular.mjs`]);
    expect([circular.code, circular.stderr]).toEqual([
      1,
      `ctxbench: strategy "circular" (${dir}/returns-circular.mjs) returned a value that cannot be compared as JSON for turn t1: a circular reference at $.nested.list[0]\n`,
    ]);
    const bigint = await run(['compare', '--scale', 'tiny', '--turns', `${dir}/turns.json`, '--strategies', `${dir}/returns-bigint.mjs`]);
    expect([bigint.code, bigint.stderr]).toEqual([
      1,
      `ctxbench: strategy "bigint" (${dir}/returns-bigint.mjs) returned a value that cannot be compared as JSON for turn t1: a BigInt at $.counts["big one"] (JSON has no BigInt: return it as a string or number)\n`,
    ]);
  });

  it('a strategy file with a syntax error is exit 2 naming file:line:column and the message', async () => {
    // Written at run time: a .ts file with a syntax error in the repository would break the typecheck.
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-syntax-'));
    try {
      const source = "export default {\n  name: 'syntax',\n  build(db, turn) {\n    return db.query('é' +;\n  },\n};\n";
      for (const ext of ['ts', 'mjs']) {
        const file = path.join(tmp, `bad.${ext}`);
        await writeFile(file, source);
        const r = await run(['compare', '--scale', 'tiny', '--strategies', `naive,${file}`]);
        // Column 26: the ';' after "    return db.query('é' +", counted in characters from 1.
        expect([r.code, r.stderr]).toEqual([2, `ctxbench: --strategies: ${file}:4:26: syntax error: Unexpected ";"\n`]);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  // Spawned: in-process, the test runner's own handler would count the stray error against the test.
  it('an unhandled rejection or a throw in a timer during a turn is that strategy failing on that turn: exit 1, one line (spawned bin)', async () => {
    const common = ['compare', '--scale', 'tiny', '--turns', `${dir}/turns.json`, '--strategies'];
    const rejection = await spawnCtxbench([...common, `${dir}/unawaited-rejection.mjs`]);
    expect([rejection.code, rejection.stderr.replace(/^ctxbench: seeding .*\n/, '')]).toEqual([
      1,
      `ctxbench: strategy "unawaited" (${dir}/unawaited-rejection.mjs) failed on turn t1: x (an unhandled promise rejection: await every promise the strategy starts)\n`,
    ]);
    const timer = await spawnCtxbench([...common, `${dir}/timer-throws.mjs`]);
    expect([timer.code, timer.stderr.replace(/^ctxbench: seeding .*\n/, '')]).toEqual([
      1,
      `ctxbench: strategy "timer" (${dir}/timer-throws.mjs) failed on turn t1: thrown in a timer (an uncaught exception, thrown outside the build (in a timer or event callback?))\n`,
    ]);
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
