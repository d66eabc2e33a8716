import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import { defaultFixturesDir, loadFixtures, parseFixture, type ConversationFixture } from '../../src/db/fixtures.js';

const valid = {
  id: 'en-test-1',
  tenant: 2,
  source: 'instagram',
  customer: { first_name: 'Ann' },
  messages: [{ type: 'customer', content: 'How much is shipping?' }],
};

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    return (error as UsageError).problems;
  }
  throw new Error('expected a UsageError');
}

async function problemsOfAsync(run: () => Promise<unknown>): Promise<string[]> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as UsageError).problems;
  }
  throw new Error('expected a UsageError');
}

/** Turns whose customer message has `earlier` messages before it. */
function customerTurns(f: ConversationFixture): number[] {
  return f.messages.flatMap((m, i) => (m.type === 'customer' ? [i] : []));
}

describe('the shipped fixtures', () => {
  it('load, sorted by file name, from the package folder', async () => {
    expect(defaultFixturesDir()).toBe(path.resolve(import.meta.dirname, '../../fixtures'));
    const fixtures = await loadFixtures();
    expect(fixtures.map((f) => f.id)).toEqual(['de-care-1', 'en-edge-1', 'en-first-1', 'es-casa-1', 'fa-shop-1']);
    expect(fixtures.map((f) => path.basename(f.file))).toEqual(['de-care-1.json', 'en-edge-1.json', 'en-first-1.json', 'es-casa-1.json', 'fa-shop-1.json']);
  });

  it('cover the required cases', async () => {
    const byId = new Map((await loadFixtures()).map((f) => [f.id, f]));
    const persian = byId.get('fa-shop-1')!;
    expect(persian.tenant).toBe(1);
    expect(persian.messages.every((m) => /[\u0600-\u06FF]/.test(m.content))).toBe(true);
    const persianTurns = customerTurns(persian);
    expect(persianTurns.length).toBeGreaterThanOrEqual(4);
    expect(persianTurns.filter((earlier) => earlier >= 6).length).toBeGreaterThanOrEqual(2);

    const english = byId.get('en-first-1')!;
    expect(english.tenant).toBe(2);
    expect(customerTurns(english).slice(0, 3).every((earlier) => earlier < 6)).toBe(true);

    expect(byId.get('es-casa-1')!.tenant).toBe(3);
    const edge = byId.get('en-edge-1')!;
    expect(edge.customer.firstName).toBeNull();
    expect(edge.messages[0].type).toBe('marketing');
    expect(edge.messages.filter((m) => m.delayMs === 0).length).toBeGreaterThanOrEqual(2);
  });
});

describe('parseFixture', () => {
  it('accepts a minimal fixture, missing customer fields being null', () => {
    const f = parseFixture('fixtures/ok.json', valid);
    expect(f).toEqual({
      file: 'fixtures/ok.json',
      id: 'en-test-1',
      tenant: 2,
      source: 'instagram',
      title: null,
      customer: { firstName: 'Ann', lastName: null, username: null, phoneNumber: null, email: null, bio: null },
      messages: [{ type: 'customer', content: 'How much is shipping?', delayMs: null }],
    });
  });

  it('reports every problem at once, each with the file, the field and the reason', () => {
    const problems = problemsOf(() =>
      parseFixture('fixtures/bad.json', {
        id: 'Not An Id Of Ours',
        tenant: 0,
        source: 'fax',
        title: 42,
        colour: 'red',
        customer: { first_name: 7, nickname: 'x' },
        messages: [
          { type: 'customer', content: 'hi' },
          'hello',
          { type: 'AI', content: '' },
          { type: 'bot', content: 'beep', delay_ms: -5, extra: true },
        ],
      }),
    );
    expect(problems).toEqual([
      'fixtures/bad.json: colour: unknown field (expected one of id, tenant, source, title, notes, customer, messages)',
      `fixtures/bad.json: id: expected 1-10 characters of a-z, 0-9 and '-' with at least one '-' (generated ids never have one), got "Not An Id Of Ours"`,
      'fixtures/bad.json: tenant: expected a tenant id (a whole number ≥ 1), got 0',
      'fixtures/bad.json: source: expected one of instagram, telegram, whatsapp, website, got "fax"',
      'fixtures/bad.json: title: expected a string of at most 255 characters or null, got 42',
      'fixtures/bad.json: customer.first_name: expected a string or null, got 7',
      'fixtures/bad.json: customer.nickname: unknown field (expected one of first_name, last_name, username, phone_number, email, bio)',
      'fixtures/bad.json: messages[1]: expected an object with type and content, got "hello"',
      'fixtures/bad.json: messages[2].content: expected a non-empty string, got ""',
      'fixtures/bad.json: messages[3].extra: unknown field (expected one of type, content, delay_ms)',
      'fixtures/bad.json: messages[3].type: expected one of customer, AI, support, marketing, got "bot"',
      'fixtures/bad.json: messages[3].delay_ms: expected whole milliseconds between 0 and 2592000000 or null, got -5',
    ]);
  });

  it('rejects a fixture without customer turns, or without messages', () => {
    expect(problemsOf(() => parseFixture('f.json', { ...valid, messages: [{ type: 'AI', content: 'hello' }] }))).toEqual([
      'f.json: messages: expected at least one message of type customer (the turns to replay)',
    ]);
    expect(problemsOf(() => parseFixture('f.json', { ...valid, messages: [] }))).toEqual(['f.json: messages: expected a non-empty array of messages, got an array']);
    expect(problemsOf(() => parseFixture('f.json', { ...valid, customer: undefined }))[0]).toMatch(/^f\.json: customer: expected an object/);
    expect(problemsOf(() => parseFixture('f.json', [valid]))).toEqual([
      'f.json: expected an object with id, tenant, source, customer and messages, got an array',
    ]);
  });

  it('rejects a NUL character (PostgreSQL text cannot hold it), naming the field', () => {
    const problems = problemsOf(() =>
      parseFixture('f.json', {
        ...valid,
        title: 'a\u0000b',
        customer: { first_name: '\u0000' },
        messages: [{ type: 'customer', content: 'How much\u0000?' }],
      }),
    );
    expect(problems).toEqual([
      'f.json: title: contains a NUL character (\\u0000) at character 2, which PostgreSQL text cannot store',
      'f.json: customer.first_name: contains a NUL character (\\u0000) at character 1, which PostgreSQL text cannot store',
      'f.json: messages[0].content: contains a NUL character (\\u0000) at character 9, which PostgreSQL text cannot store',
    ]);
  });

  it('rejects ids that are too long or could collide with generated ids', () => {
    for (const id of ['abcdefghij', 'en-toolong-1', 'EN-1', '-x', 'a--b']) {
      expect(problemsOf(() => parseFixture('f.json', { ...valid, id }))[0]).toMatch(/^f\.json: id: expected 1-10 characters/);
    }
  });
});

describe('loadFixtures', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = null;
  });

  async function folder(files: Record<string, string>): Promise<string> {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-fixtures-'));
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    return dir;
  }

  it('names every bad file: invalid JSON, invalid fields, duplicate ids across files', async () => {
    const d = await folder({
      'a.json': JSON.stringify(valid),
      'b.json': '{ "id": "x-1", ',
      'c.json': JSON.stringify({ ...valid, source: 'sms' }),
      'd.json': JSON.stringify(valid),
      'notes.txt': 'ignored',
    });
    const problems = await problemsOfAsync(() => loadFixtures(d));
    const name = (f: string) => path.join(d, f);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(new RegExp(`^${name('b.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON: `));
    expect(problems[1]).toBe(`${name('c.json')}: source: expected one of instagram, telegram, whatsapp, website, got "sms"`);
    expect(problems[2]).toBe(`${name('d.json')}: id: duplicate conversation id "en-test-1" (also in ${name('a.json')})`);
  });

  it('rejects a file that is not UTF-8, naming the file and the byte offset, instead of replacing bytes', async () => {
    const d = await folder({ 'a.json': JSON.stringify(valid) });
    // Latin-1 "é" (0xe9) inside the content: valid JSON, but not UTF-8.
    const text = Buffer.from(JSON.stringify({ ...valid, id: 'en-test-2', messages: [{ type: 'customer', content: 'caf_?' }] }), 'latin1');
    const at = text.indexOf('_');
    text[at] = 0xe9;
    await writeFile(path.join(d, 'b.json'), text);
    const problems = await problemsOfAsync(() => loadFixtures(d));
    expect(problems).toEqual([`${path.join(d, 'b.json')}: not UTF-8 text: invalid byte 0xe9 at byte offset ${at} (save the file as UTF-8)`]);
  });

  it('returns [] for a folder without fixtures and names a missing folder', async () => {
    expect(await loadFixtures(await folder({}))).toEqual([]);
    const problems = await problemsOfAsync(() => loadFixtures('/nonexistent/ctxbench-fixtures'));
    expect(problems[0]).toMatch(/^\/nonexistent\/ctxbench-fixtures: cannot read the fixtures directory/);
  });
});
