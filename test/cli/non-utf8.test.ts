/**
 * Every input file a user hands ctxbench is read as strict UTF-8: a file in another encoding
 * is exit 2 naming the file and the byte offset, never read with U+FFFD in place of its bytes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstInvalidUtf8 } from '../../src/core/read-text.js';
import { runInProcess as run } from '../support/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-utf8-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `text` with its "é" saved as Latin-1 (one byte 0xe9); returns the file and that byte's offset. */
async function latin1(name: string, text: string): Promise<{ file: string; at: number }> {
  const file = path.join(dir, name);
  const bytes = Buffer.from(text, 'utf8');
  const at = bytes.indexOf(Buffer.from('é', 'utf8'));
  await writeFile(file, Buffer.concat([bytes.subarray(0, at), Buffer.from([0xe9]), bytes.subarray(at + 2)]));
  return { file, at };
}

const message = (file: string, at: number) => `ctxbench: ${file}: not UTF-8 text: invalid byte 0xe9 at byte offset ${at} (save the file as UTF-8)\n`;

describe('non-UTF-8 input files', () => {
  it('finds the first invalid byte, including truncated, overlong and surrogate sequences', () => {
    expect(firstInvalidUtf8(Buffer.from('añ€😀', 'utf8'))).toBe(10);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc3]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80]))).toBe(1);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xed, 0xa0, 0x80]))).toBe(2);
    expect(firstInvalidUtf8(Buffer.from([0xe2, 0x82, 0x41]))).toBe(0);
  });

  it('--budget, --baseline, --turns, --before/--after: exit 2 naming the file and the byte offset', async () => {
    const budget = await latin1('budget.json', '{ "strategies": { "optimized": { "queries": 7 } }, "silence": [{ "fingerprint": "x", "reason": "café" }] }');
    const r1 = await run(['check', '--scale', 'tiny', '--strategies', 'optimized', '--budget', budget.file]);
    // The budget unread, check also says it has nothing to check against: the first line is ours.
    expect([r1.code, `${r1.stderr.split('\n')[0]}\n`]).toEqual([2, message(budget.file, budget.at)]);

    const baseline = await latin1('baseline.json', '{ "version": 1, "dataset": null, "strategies": { "café": {} } }');
    const r2 = await run(['check', '--scale', 'tiny', '--strategies', 'optimized', '--baseline', baseline.file]);
    expect([r2.code, r2.stderr]).toEqual([2, message(baseline.file, baseline.at)]);

    const turns = await latin1('turns.json', '[{ "id": "café" }]');
    const r3 = await run(['compare', '--scale', 'tiny', '--turns', turns.file, '--strategies', 'test/cli/strategies/own-turns.mjs']);
    expect([r3.code, r3.stderr]).toEqual([2, message(turns.file, turns.at)]);

    const before = await latin1('before.json', '{ "version": 1, "strategies": [{ "name": "café" }] }');
    const after = path.join(dir, 'after.json');
    await writeFile(after, '{}');
    const r4 = await run(['compare', '--before', before.file, '--after', after]);
    // Both files' problems, before's first, whichever read finished first.
    expect([r4.code, r4.stderr]).toEqual([
      2,
      `${message(before.file, before.at)}ctxbench: --after: ${after} is not a ctxbench report (expected --format json output or a recording)\n`,
    ]);
  });

  it('--setup SQL: exit 2 naming the file and the byte offset', async () => {
    const setup = await latin1('setup.sql', "create table t (name text); insert into t values ('café');");
    const turns = path.join(dir, 'ok-turns.json');
    await writeFile(turns, '[{ "id": "t1" }]');
    const r = await run(['compare', '--setup', setup.file, '--turns', turns, '--strategies', 'test/cli/strategies/own-turns.mjs']);
    expect([r.code, r.stderr]).toEqual([2, message(setup.file, setup.at)]);
  });
});
