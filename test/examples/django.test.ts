/**
 * examples/django: the seed's own system (Django ORM, the reference schema) run against a seeded
 * PostgreSQL, directly and through `ctxbench record`. Needs a Python with Django and psycopg2
 * (python3 on PATH, else Debian's /usr/bin/python3, else $CTXBENCH_PYTHON) and a real server
 * (CTXBENCH_TEST_DATABASE_URL); skipped, saying which is missing, otherwise.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWireProxy } from '../../src/core/net/wire-proxy.js';
import { seededBackend, type TestBackend } from '../support/backends.js';
import { repoRoot, spawnCtxbench } from '../support/cli.js';
import { formatNumber } from '../../src/report/table.js';

const MANAGE = 'examples/django/manage.py';

/** The first Python that imports django and psycopg2. */
function djangoPython(): string | null {
  const candidates = [process.env.CTXBENCH_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const python of candidates) {
    try {
      execFileSync(python, ['-c', 'import django, psycopg2'], { stdio: 'ignore' });
      return python;
    } catch {
      // Not there, or without Django: try the next one.
    }
  }
  return null;
}

const python = djangoPython();
const skipReason = !python
  ? 'no python3 that imports django and psycopg2 (apt install python3-django python3-psycopg2, or set CTXBENCH_PYTHON)'
  : !process.env.CTXBENCH_TEST_DATABASE_URL
    ? 'CTXBENCH_TEST_DATABASE_URL is not set (the example runs on a real PostgreSQL server)'
    : null;
if (skipReason) console.log(`skipping examples/django: ${skipReason}`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment without the variables a surrounding `ctxbench record` would set. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CTXBENCH_RECORDING;
  delete env.CTXBENCH_PROMPT_LOG;
  delete env.CONTEXT_VERSION;
  return { ...env, ...extra };
}

function manage(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(python!, [MANAGE, ...args], { cwd: repoRoot, env: cleanEnv(env), maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** sha256 of a prompt's UTF-8 text, as ctxbench hashes it. */
function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

interface LoggedPrompt {
  turn: string;
  prompt: string;
}

/** The sections of a rendered prompt by title (`## TITLE` lines). */
function sections(prompt: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of prompt.split(/^## /m).slice(1)) {
    const newline = part.indexOf('\n');
    out.set(part.slice(0, newline), part.slice(newline + 1));
  }
  return out;
}

/**
 * Statements per turn on the tiny dataset (seed 1), turns in fixture order (de-care-1,
 * en-edge-1, en-first-1, es-casa-1, fa-shop-1). after = message, conversation, user, ai_prompt,
 * customer, history (customers joined), products, websites, pages per website (2; es-casa-1's
 * tenant has none), faqs. before = the same plus one customer read per history message (all
 * carry the conversation's customer) and one website read per page (10; none for es-casa-1).
 */
const EXPECTED_QUERIES = {
  before: [21, 23, 25, 22, 23, 25, 27, 21, 23, 25, 27, 9, 11, 13, 15, 21, 23, 25, 27, 27, 27],
  after: [11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 9, 9, 9, 9, 11, 11, 11, 11, 11, 11],
};

describe.skipIf(skipReason !== null)('examples/django', () => {
  let backend: TestBackend;
  let dir: string;
  /** `conversation/message` of every fixture turn, in ctxbench's order. */
  let labels: string[];
  /** sha256 of ctxbench's own naive prompt, per turn. */
  let naiveSha: string[];
  const prompts: Record<string, LoggedPrompt[]> = {};

  async function buildLogged(version: string, extraArgs: string[] = []): Promise<LoggedPrompt[]> {
    const log = path.join(dir, `${version}-${extraArgs.join('_')}.jsonl`);
    const r = await manage(['build_contexts', '--version', version, ...extraArgs], {
      DATABASE_URL: backend.url,
      CTXBENCH_RECORDING: '1',
      CTXBENCH_PROMPT_LOG: log,
    });
    expect(r.stderr).toMatch(/^build_contexts: \d+ turns built, version /);
    expect(r.code).toBe(0);
    const text = await readFile(log, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    return text
      .slice(0, -1)
      .split('\n')
      .map((line) => JSON.parse(line) as LoggedPrompt);
  }

  beforeAll(async () => {
    backend = await seededBackend('postgres', 'tiny');
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-django-'));
    const compare = await spawnCtxbench(['compare', '--db', backend.url, '--strategies', 'naive', '--format', 'json']);
    expect(compare.code).toBe(0);
    const turns = JSON.parse(compare.stdout).strategies[0].turnDetails as { conversationId: string; messageId: string; promptSha256: string }[];
    labels = turns.map((t) => `${t.conversationId}/${t.messageId}`);
    naiveSha = turns.map((t) => t.promptSha256);
    for (const version of ['before', 'after', 'wrong']) prompts[version] = await buildLogged(version);
  }, 240_000);

  afterAll(async () => {
    await backend?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('logs one prompt per fixture turn, labelled conversation/message, in order', () => {
    expect(labels.length).toBe(21);
    for (const version of ['before', 'after', 'wrong']) expect(prompts[version]!.map((p) => p.turn)).toEqual(labels);
  });

  it("before and after build the same prompt on every turn, and it is ctxbench's reference prompt", () => {
    expect(prompts.after!.map((p) => p.prompt)).toEqual(prompts.before!.map((p) => p.prompt));
    const sha = prompts.before!.map((p) => createHash('sha256').update(p.prompt, 'utf8').digest('hex'));
    expect(sha).toEqual(naiveSha);
  });

  it('wrong differs from before in HISTORY only, by its oldest message, on every turn with 6 earlier messages', () => {
    let differing = 0;
    for (const [i, before] of prompts.before!.entries()) {
      const b = sections(before.prompt);
      const w = sections(prompts.wrong![i]!.prompt);
      const [bh, wh] = [b.get('HISTORY')!, w.get('HISTORY')!];
      if (wh !== bh) {
        differing += 1;
        // wrong keeps the 5 newest: before's history minus its first (oldest) line(s).
        expect(bh.endsWith(wh)).toBe(true);
        expect(wh.length).toBeLessThan(bh.length);
      }
      for (const title of ['SYSTEM', 'CUSTOMER', 'PRODUCTS', 'WEBSITES', 'FAQ', 'QUESTION']) expect(w.get(title)).toBe(b.get(title));
    }
    // The other 15 turns have at most 5 earlier messages, which fit either way.
    expect(differing).toBe(6);
  });

  it('--conversation picks the turns of the conversations given', async () => {
    const logged = await buildLogged('after', ['--conversation', 'fa-shop-1,en-first-1']);
    const expected = [...labels.filter((l) => l.startsWith('fa-shop-1/')), ...labels.filter((l) => l.startsWith('en-first-1/'))];
    expect(expected.length).toBe(10);
    expect(logged.map((p) => p.turn)).toEqual(expected);
  }, 60_000);

  it("shows the FieldError of the seed's change 1 as written, in one line, exit 1", async () => {
    const r = await manage(['build_contexts', '--version', 'seed'], { DATABASE_URL: backend.url });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `CommandError: version seed, turn ${labels[0]}: Django refuses the query: FieldError: ` +
        'Field Message.conversation cannot be both deferred and traversed using select_related at the same time.\n',
    );
  }, 60_000);

  it('reports bad input in one line with exit 2, a refused database with exit 3, never the password', async () => {
    const cases: [NodeJS.ProcessEnv, string[], number, string][] = [
      [{ DATABASE_URL: '' }, ['--version', 'after'], 2, 'manage.py: DATABASE_URL is not set: give the database to read, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test\n'],
      [{ DATABASE_URL: 'mysql://u:hunter2@h/db' }, ['--version', 'after'], 2, 'manage.py: DATABASE_URL: the scheme must be postgres:// or postgresql://, e.g. postgres://postgres@127.0.0.1:5432/test\n'],
      [{ DATABASE_URL: backend.url }, [], 2, 'CommandError: choose the context version: --version before|after|wrong|seed (or CONTEXT_VERSION)\n'],
      [{ DATABASE_URL: backend.url, CONTEXT_VERSION: 'fast' }, [], 2, "CommandError: --version/CONTEXT_VERSION: 'fast' is not one of before, after, wrong, seed\n"],
      [{ DATABASE_URL: backend.url }, ['--version', 'after', '--conversation', 'nope-1'], 2, 'CommandError: --conversation: no conversation "nope-1" in this database\n'],
      [{ DATABASE_URL: 'postgres://u:hunter2@127.0.0.1:1/db' }, ['--version', 'after'], 3, 'CommandError: database: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'],
    ];
    for (const [env, args, code, stderr] of cases) {
      const r = await manage(['build_contexts', ...args], env);
      expect([r.code, r.stderr]).toEqual([code, stderr]);
      expect(r.stdout).toBe('');
    }
  }, 60_000);

  it('outside a recording the helper sends no marker and writes no prompt log', async () => {
    // A bare wire proxy (not `record`, which turns the recording on): it only watches.
    const upstream = new URL(backend.url);
    const proxy = await startWireProxy({ upstreamHost: upstream.hostname, upstreamPort: Number(upstream.port || 5432) });
    const log = path.join(dir, 'not-recording.jsonl');
    try {
      const proxied = new URL(backend.url);
      proxied.hostname = proxy.host;
      proxied.port = String(proxy.port);
      const r = await manage(['build_contexts', '--version', 'after'], { DATABASE_URL: proxied.toString(), CTXBENCH_PROMPT_LOG: log });
      expect(r.code).toBe(0);
    } finally {
      await proxy.close();
    }
    expect(existsSync(log)).toBe(false);
    const sql = proxy.recording().statements.map((s) => s.sql);
    expect(sql.filter((q) => q.includes('ctxbench:turn'))).toEqual([]);
    expect(sql.length).toBe(2 + EXPECTED_QUERIES.after.reduce((a, b) => a + b, 0));
  }, 120_000);

  it('through ctxbench record: one unit per turn, and exactly these statements per turn', async () => {
    const perTurn: Record<string, number[]> = {};
    for (const version of ['before', 'after'] as const) {
      const output = path.join(dir, `${version}.json`);
      const r = await spawnCtxbench(
        ['record', '--upstream', backend.url, '--format', 'json', '--output', output, '--', python!, MANAGE, 'build_contexts', '--version', version],
        cleanEnv({}),
      );
      expect(r.code).toBe(0);
      const s = JSON.parse(await readFile(output, 'utf8')).strategies[0];
      const units = s.turnDetails as { turn: string; queries: number; promptSha256: string; statements: { sql: string }[] }[];
      // record gave the program its prompt log: every turn's prompt hash is the program's own.
      expect(units.slice(1).map((u) => u.promptSha256)).toEqual(prompts[version]!.map((p) => sha256(p.prompt)));
      // Listing the turns (which conversations exist, their customer messages) comes first.
      expect(units[0]!.turn).toBe('(before first marker)');
      expect(units[0]!.queries).toBe(2);
      expect(units.slice(1).map((u) => u.turn)).toEqual(labels);
      perTurn[version] = units.slice(1).map((u) => u.queries);
      expect(perTurn[version]).toEqual(EXPECTED_QUERIES[version]);
    }
    // The N+1 reads cost statements wherever there is history or a website page to read.
    for (const [i, before] of perTurn.before!.entries()) {
      if (before === 9) expect(perTurn.after![i]).toBe(9);
      else expect(before).toBeGreaterThan(perTurn.after![i]!);
    }
  }, 180_000);

  it('run.sh prints the seed\'s table measured, context identical on every turn (exit 0); AFTER=wrong exits 1 with the HISTORY diff', async () => {
    const script = path.join(repoRoot, 'examples/django/run.sh');
    const env = cleanEnv({ DATABASE_URL: backend.url, SKIP_SEED: '1', PYTHON: python!, OUT: path.join(dir, 'run') });
    const ok = await new Promise<Run>((resolve) =>
      execFile('sh', [script], { cwd: repoRoot, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(ok.stderr).not.toContain('prompt log:');
    expect(ok.code).toBe(0);
    // 22 units: the 21 turns and the 2 statements before the first marker that list them.
    const mean = (xs: number[]) => formatNumber(Number(((xs.reduce((a, b) => a + b, 0) + 2) / 22).toFixed(3)));
    expect(ok.stdout).toMatch(new RegExp(`│ queries/turn\\s+│\\s+${mean(EXPECTED_QUERIES.before)} │\\s+${mean(EXPECTED_QUERIES.after)} │`));
    expect(ok.stdout).toMatch(/│ context identical\s+│\s+✓ │\s+✓ │\s+unchanged │/);
    const recorded = JSON.parse(await readFile(path.join(dir, 'run', 'after.json'), 'utf8')).strategies[0].turnDetails;
    expect(recorded.filter((t: { promptSha256: string }) => t.promptSha256 !== '').length).toBe(21);

    const wrong = await new Promise<Run>((resolve) =>
      execFile('sh', [script], { cwd: repoRoot, env: { ...env, AFTER: 'wrong' }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/│ context identical\s+│\s+✓ │\s+✗ differs │/);
    expect(wrong.stdout).toContain('section HISTORY');
    expect(wrong.stderr).toContain("ctxbench: context differs from before's for: after");
  }, 300_000);
});
