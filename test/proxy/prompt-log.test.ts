/**
 * The prompt log a recorded program writes: parsed line by line, every malformed line named, and
 * the Node helper that writes it (and does nothing outside a recording).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePromptLog, promptFigures, unmatchedPrompts } from '../../src/core/prompt-log.js';
import { logPrompt, markTurn, turnMarkerSql } from '../../src/recording.js';
import { markerOf } from '../../src/commands/record.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('parsePromptLog', () => {
  it('reads strings as they are and other values as canonical JSON; CRLF and blank lines are fine', () => {
    const log = parsePromptLog(bytes('{"turn":"a","prompt":"héllo\\n"}\r\n\n{"turn":" b ","prompt":{"z":1,"a":[2]}}\n'), 'p.ndjson');
    expect(log.problems).toEqual([]);
    expect([...log.prompts.keys()]).toEqual(['a', 'b']);
    expect(log.prompts.get('a')).toEqual({ label: 'a', text: 'héllo\n', line: 1 });
    expect(log.prompts.get('b')!.text).toBe('{\n  "a": [\n    2\n  ],\n  "z": 1\n}\n');
    expect(log.prompts.get('b')!.line).toBe(3);
  });

  it('names every malformed line by number and keeps the good ones', () => {
    const text = [
      '{"turn":"a","prompt":"one"}',
      'not json',
      '["turn","b"]',
      '{"prompt":"no turn"}',
      '{"turn":"c"}',
      '{"turn":"a","prompt":"again"}',
      '{"turn":"d","prompt":null}',
    ].join('\n');
    const log = parsePromptLog(bytes(text), 'p.ndjson');
    expect(log.problems).toEqual([
      expect.stringMatching(/^p\.ndjson: line 2: not JSON \(/),
      'p.ndjson: line 3: expected an object {"turn": "<label>", "prompt": …}',
      'p.ndjson: line 4: no "turn": expected the label the turn marker sent, as a non-empty string',
      'p.ndjson: line 5: no "prompt" for turn "c"',
      'p.ndjson: line 6: a second prompt for turn "a" (the first is on line 1)',
    ]);
    expect([...log.prompts.keys()]).toEqual(['a', 'd']);
    expect(log.prompts.get('a')!.text).toBe('one');
    expect(log.prompts.get('d')!.text).toBe('null\n');
  });

  it('rejects a line that is not UTF-8, naming it, instead of replacing bytes', () => {
    const log = parsePromptLog(Buffer.concat([bytes('{"turn":"a","prompt":"ok"}\n{"turn":"b","prompt":"'), Buffer.from([0xff, 0xfe]), bytes('"}\n')]), 'p');
    expect(log.problems).toEqual(['p: line 2: not UTF-8 text']);
    expect([...log.prompts.keys()]).toEqual(['a']);
  });

  it('labels without a unit are named with their line', () => {
    const log = parsePromptLog(bytes('{"turn":"a","prompt":"x"}\n{"turn":"zz","prompt":"y"}\n'), 'p');
    expect(unmatchedPrompts(log, new Set(['a']), 'p')).toEqual([
      'p: line 2: turn "zz" has no unit: no statement carried that label\'s turn marker',
    ]);
  });

  it('prompt figures are the UTF-8 bytes and sha256 of the text', () => {
    expect(promptFigures('سلام').promptBytes).toBe(8);
    expect(promptFigures('hi').promptSha256).toBe('8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4');
  });
});

describe('ctxbench/recording (the Node helper)', () => {
  it('marker SQL doubles quotes and is recognised as a marker with the same label', () => {
    const sql = turnMarkerSql("o'brien/1");
    expect(sql).toBe("SELECT 'ctxbench:turn o''brien/1'");
    expect(markerOf(sql)).toEqual({ label: "o'brien/1", only: true });
    expect(() => turnMarkerSql('a\nb')).toThrow(/one line/);
  });

  it('does nothing outside a recording; inside, marks on the client and appends one line per prompt', async () => {
    const sent: string[] = [];
    const client = { query: async (sql: string) => void sent.push(sql) };
    const knexLike = { raw: async (sql: string) => void sent.push(`raw:${sql}`) };
    await markTurn(client, 't1', {});
    logPrompt('t1', 'x', {});
    expect(sent).toEqual([]);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-plog-'));
    dirs.push(dir);
    const env = { CTXBENCH_RECORDING: '1', CTXBENCH_PROMPT_LOG: path.join(dir, 'prompts.ndjson') };
    await markTurn(client, 't1', env);
    await markTurn(knexLike, 't2', env);
    logPrompt('t1', 'first\nline', env);
    logPrompt('t2', { a: 1 }, env);
    expect(sent).toEqual(["SELECT 'ctxbench:turn t1'", "raw:SELECT 'ctxbench:turn t2'"]);
    const log = parsePromptLog(await readFile(env.CTXBENCH_PROMPT_LOG), 'prompts.ndjson');
    expect(log.problems).toEqual([]);
    expect(log.prompts.get('t1')!.text).toBe('first\nline');
    expect(log.prompts.get('t2')!.text).toBe('{\n  "a": 1\n}\n');
    expect(() => logPrompt('t3', 'x', { CTXBENCH_RECORDING: '1' })).toThrow(/CTXBENCH_PROMPT_LOG is not/);
  });
});
