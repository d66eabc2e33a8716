/**
 * diagnose shows no customer content unless asked: no prompt text, SQL parameter or literal
 * anywhere in its output or its --output file, in any format, even when a strategy's prompt
 * differs (then described by sizes and positions). With --show-content the same strings do
 * appear — the proof that this test would see a leak. Also --explain-analyze.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendKinds, seededBackend, type TestBackend } from '../support/backends.js';
import { runInProcess as run } from '../support/cli.js';

const LEAKY = 'test/diagnose/strategies/leaky.ts';
/** What the leaky strategy sends: a literal and a parameter of its own. */
const SQL_SECRETS = ['LITERAL-7f3a', 'PARAM-9c1e'];

describe.each(backendKinds)('diagnose redaction on %s', (kind) => {
  let backend: TestBackend;
  let dir: string;
  /** Prompt text of en-first-1: its messages, the tenant's business name and instructions. */
  let promptTexts: string[];

  beforeAll(async () => {
    backend = await seededBackend(kind);
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-redaction-'));
    const client = new pg.Client({ connectionString: backend.url });
    await client.connect();
    try {
      const messages = await client.query(`select content from messages where conversation_id = 'en-first-1' and length(content) >= 12`);
      const tenant = await client.query(
        `select u.business_name, p.manual_prompt from conversations c join users u on u.id = c.user_id
           left join ai_prompts p on p.user_id = u.id where c.id = 'en-first-1'`,
      );
      promptTexts = [
        ...messages.rows.map((r) => String(r.content).slice(0, 40)),
        String(tenant.rows[0].business_name),
        String(tenant.rows[0].manual_prompt).slice(0, 40),
      ];
    } finally {
      await client.end();
    }
    expect(promptTexts.length).toBeGreaterThanOrEqual(6);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await backend?.close();
  });

  const diagnose = (...extra: string[]) =>
    run(['diagnose', '--db', backend.url, '--conversation', 'en-first-1', '--strategies', `naive,${LEAKY}`, ...extra]);

  it.each(['table', 'json', 'markdown'])('--format %s: nothing of the content on stdout or in --output', async (format) => {
    const printed = await diagnose('--format', format, '--explain');
    expect(printed.code).toBe(1);
    const file = path.join(dir, `diagnosis-${format}`);
    const written = await diagnose('--format', format, '--explain', '--output', file);
    expect(written.code).toBe(1);
    const everything = [printed.stdout, printed.stderr, written.stdout, written.stderr, await readFile(file, 'utf8')].join('\n');
    // The difference is reported, described without its content.
    expect(everything).toContain('leaky');
    expect(everything).toMatch(/content redacted/);
    for (const secret of [...SQL_SECRETS, ...promptTexts]) expect(everything, secret).not.toContain(secret);
  });

  it('--show-content shows the parameters, the literal and the prompt difference', async () => {
    const r = await diagnose('--format', 'json', '--show-content');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.diagnosis.redacted).toBe(false);
    const leaky = report.strategies.find((s: { name: string }) => s.name === 'leaky');
    const statements = leaky.turnDetails.flatMap((t: { statements: { sql: string; params: string[] }[] }) => t.statements);
    expect(statements).toHaveLength(4);
    for (const s of statements) {
      expect(s.sql).toContain(`'LITERAL-7f3a'`);
      expect(s.params[1]).toBe('PARAM-9c1e');
    }
    // The diff shows the baseline's prompt text.
    expect(leaky.difference.diff).toContain(promptTexts.at(-2));
    const table = await diagnose('--show-content');
    expect(table.stdout).toContain(promptTexts.at(-2));
  });

  it('--explain-analyze executes each statement shape once more, read-only, and times it', async () => {
    const r = await run(['diagnose', '--db', backend.url, '--conversation', 'en-first-1', '--turns', 'last:1', '--strategies', 'optimized', '--explain-analyze', '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    const fingerprints = new Set(report.strategies[0].turnDetails.flatMap((t: { statements: { fingerprint: string }[] }) => t.statements.map((s) => s.fingerprint)));
    const results = report.diagnosis.explain.results as { fingerprint: string; actualMs?: number; error?: string; planRoot: { 'Actual Rows'?: number } | null }[];
    expect(results.map((x) => x.fingerprint).sort()).toEqual([...fingerprints].sort());
    expect(results.length).toBeGreaterThan(0);
    for (const x of results) {
      expect(x.error).toBeUndefined();
      expect(x.actualMs).toBeGreaterThanOrEqual(0);
      // ANALYZE plans carry what happened, not only estimates.
      expect(typeof x.planRoot?.['Actual Rows']).toBe('number');
    }
  });
});
