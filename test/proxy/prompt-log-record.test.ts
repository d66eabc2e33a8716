/**
 * Prompts of a recorded program, in any language: `record` gives the program a prompt log, the
 * prompts land on the units with their labels (bytes, sha256 and tokens exactly as the program's
 * own), malformed lines are named, and `compare --before/--after` checks the prompts turn by turn.
 * The programs here are a shell script around psql and a Node program using ctxbench/recording.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendKinds, emptyBackend, type TestBackend } from '../support/backends.js';
import { runInProcess as run } from '../support/cli.js';

const sha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A shell program: two turns, each marked on psql's connection, each logging its prompt. */
function shellProgram(prompts: Record<string, string>, extraLines: string[] = []): string {
  const lines = Object.entries(prompts).flatMap(([label, prompt]) => [
    `psql -X -q -c "SELECT 'ctxbench:turn ${label}'" -c "select ${label.length}" -c "select 'x'" >/dev/null`,
    `printf '%s\\n' '${JSON.stringify({ turn: label, prompt }).replace(/'/g, "'\\''")}' >> "$CTXBENCH_PROMPT_LOG"`,
  ]);
  return [...lines, ...extraLines.map((l) => `printf '%s\\n' '${l.replace(/'/g, "'\\''")}' >> "$CTXBENCH_PROMPT_LOG"`)].join('\n');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-plog-rec-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(backendKinds)('record with a prompt log (%s)', (kind) => {
  let backend: TestBackend;
  beforeAll(async () => {
    backend = await emptyBackend(kind);
  });
  afterAll(async () => {
    await backend?.close();
  });

  const prompts = { t1: '## SYSTEM\nshop\n\n## HISTORY\nAna: hi\n', t2: '## SYSTEM\nshop\n\n## HISTORY\nسلام\n' };

  async function recordShell(name: string, program: string, extra: string[] = []) {
    const output = path.join(dir, `${kind}-${name}.json`);
    const r = await run(['record', '--upstream', backend.url, '--output', output, ...extra, '--', 'sh', '-c', program], {
      ...process.env,
    });
    return { ...r, file: output, report: JSON.parse(await readFile(output, 'utf8')) };
  }

  it('each unit gets its prompt bytes, sha256 and tokens, equal to the program\'s own; text only with --show-content', async () => {
    const r = await recordShell('plain', shellProgram(prompts));
    expect(r.code).toBe(0);
    const turns = r.report.strategies[0].turnDetails;
    expect(turns.map((t: { turn: string }) => t.turn)).toEqual(['t1', 't2']);
    for (const t of turns) {
      const text = prompts[t.turn as 't1' | 't2'];
      expect(t.promptSha256).toBe(sha(text));
      expect(t.promptBytes).toBe(Buffer.byteLength(text));
      expect(t.promptTokens).toBeGreaterThan(5);
      expect(t.prompt).toBeUndefined();
      expect(t.queries).toBe(2);
    }
    expect(r.report.tokenizer).toBe('o200k_base');
    expect(r.report.recording.promptLog).toEqual({ prompts: 2, problems: [] });
    // One recording alone compares its prompts with nothing.
    expect(r.report.contextIdentical).toBeNull();
    expect(r.stdout).toMatch(/│ prompt bytes\s+│/);
    expect(r.stdout).toMatch(/│ context identical\s+│\s+not checked │/);
    const shown = await recordShell('shown', shellProgram(prompts), ['--show-content']);
    expect(shown.report.strategies[0].turnDetails.map((t: { prompt: string }) => t.prompt)).toEqual([prompts.t1, prompts.t2]);
  });

  it('malformed lines and labels without a unit are named by line; the recording is still written; exit 2', async () => {
    const r = await recordShell('bad', shellProgram(prompts, ['not json', '{"turn":"t9","prompt":"x"}', '{"turn":"t1","prompt":"again"}', '{"prompt":"no turn"}']));
    expect(r.code).toBe(2);
    // Lines 1 and 2 are the good prompts; the bad ones follow.
    expect(r.stderr).toContain('ctxbench: prompt log: line 3: not JSON');
    expect(r.stderr).toContain('ctxbench: prompt log: line 5: a second prompt for turn "t1" (the first is on line 1)');
    expect(r.stderr).toContain('ctxbench: prompt log: line 6: no "turn"');
    expect(r.stderr).toContain('ctxbench: prompt log: line 4: turn "t9" has no unit');
    expect(r.report.recording.promptLog.problems).toHaveLength(4);
    expect(r.report.strategies[0].turnDetails[0].promptSha256).toBe(sha(prompts.t1));
  });

  it('compare --before/--after pairs turns by label: identical exits 0; one changed exits 1 with the diff under its section', async () => {
    const before = await recordShell('before', shellProgram(prompts), ['--show-content']);
    const same = await recordShell('same', shellProgram(prompts), ['--show-content']);
    const ok = await run(['compare', '--before', before.file, '--after', same.file, '--format', 'json']);
    expect(ok.code).toBe(0);
    const okReport = JSON.parse(ok.stdout);
    expect(okReport.contextIdentical).toBe(true);
    expect(okReport.strategies[1].turnDetails.map((t: { contextIdentical: boolean }) => t.contextIdentical)).toEqual([true, true]);

    const changed = await recordShell('changed', shellProgram({ ...prompts, t2: '## SYSTEM\nshop\n\n## HISTORY\nسلام!\n' }), ['--show-content']);
    const bad = await run(['compare', '--before', before.file, '--after', changed.file]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('after: first differs at turn t2');
    expect(bad.stdout).toContain('section HISTORY');
    expect(bad.stdout).toContain('-سلام');
    expect(bad.stdout).toContain('+سلام!');

    // Without the text (no --show-content) the turn is still named, with hashes and sizes.
    const hidden = await recordShell('hidden', shellProgram({ ...prompts, t2: 'other' }));
    const h = await run(['compare', '--before', before.file, '--after', hidden.file]);
    expect(h.code).toBe(1);
    expect(h.stdout).toContain('record both with --show-content');

    // A turn on one side only is listed, never counted identical.
    const one = await recordShell('one', shellProgram({ t1: prompts.t1 }), ['--show-content']);
    const partial = await run(['compare', '--before', before.file, '--after', one.file, '--format', 'json']);
    const p = JSON.parse(partial.stdout);
    expect(p.unchecked.onlyInBefore).toEqual(['t2']);
    expect(p.strategies[1].turnDetails.map((t: { contextIdentical: boolean }) => t.contextIdentical)).toEqual([true]);
  });

  it('a Node program using ctxbench/recording: per-turn hashes equal its own', async () => {
    const program = path.join(dir, `${kind}-program.mjs`);
    const recordingModule = new URL('../../dist/recording.js', import.meta.url).href;
    await writeFile(
      program,
      `import pg from ${JSON.stringify(pathToFileURL(createRequire(import.meta.url).resolve('pg')).href)};
import { createHash } from 'node:crypto';
import { markTurn, logPrompt } from ${JSON.stringify(recordingModule)};
// pg from this repository: the program lives in a temporary folder.
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
const own = {};
for (const label of ['a/1', "o'b/2"]) {
  await markTurn(client, label);
  const { rows } = await client.query('select $1::text as v', [label]);
  const prompt = { label, value: rows[0].v, list: [1, 2] };
  logPrompt(label, prompt);
}
await client.end();
`,
    );
    const output = path.join(dir, `${kind}-node.json`);
    const r = await run(['record', '--upstream', backend.url, '--output', output, '--', process.execPath, program], {
      ...process.env,
    });
    expect(r.stderr).not.toContain('prompt log:');
    expect(r.code).toBe(0);
    const report = JSON.parse(await readFile(output, 'utf8'));
    const turns = report.strategies[0].turnDetails;
    expect(turns.map((t: { turn: string }) => t.turn)).toEqual(['a/1', "o'b/2"]);
    for (const t of turns) {
      // Canonical JSON, keys sorted, as --turns strategies are compared.
      const canonical = `${JSON.stringify({ label: t.turn, list: [1, 2], value: t.turn }, null, 2)}\n`;
      expect(t.promptSha256).toBe(sha(canonical));
      expect(t.queries).toBe(1);
    }
  });
});

describe.each(backendKinds)('record --rtt (%s)', (kind) => {
  it('runs the program at that distance: each unit takes at least RTT × its round trips; the report states the RTT', async () => {
    const backend = await emptyBackend(kind);
    try {
      const output = path.join(dir, `${kind}-rtt.json`);
      // Three turns of two sequential statements each: at least 2 × 40 ms per turn.
      const program = ['a', 'b', 'c']
        .map((l) => `psql -X -q -c "SELECT 'ctxbench:turn ${l}'" -c "select 1" -c "select 2" >/dev/null`)
        .join('\n');
      const r = await run(['record', '--rtt', '40', '--upstream', backend.url, '--output', output, '--', 'sh', '-c', program], { ...process.env });
      expect(r.code).toBe(0);
      const report = JSON.parse(await readFile(output, 'utf8'));
      expect(report.recording.rttMs).toBe(40);
      expect(r.stdout).toContain('40 ms RTT added (measured through a delay proxy)');
      const turns = report.strategies[0].turnDetails as { turn: string; roundTrips: number; latencyMs: number[]; statements: { durationMs: number }[] }[];
      expect(turns.map((t) => [t.turn, t.roundTrips])).toEqual([
        ['a', 2],
        ['b', 2],
        ['c', 2],
      ]);
      for (const t of turns) {
        expect(t.latencyMs[0]).toBeGreaterThanOrEqual(2 * 40);
        for (const s of t.statements) expect(s.durationMs).toBeGreaterThanOrEqual(40);
      }
      const bad = await run(['record', '--rtt', 'soon', '--upstream', backend.url, '--', 'true']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('--rtt: expected one round-trip time in milliseconds');
    } finally {
      await backend.close();
    }
  });
});
