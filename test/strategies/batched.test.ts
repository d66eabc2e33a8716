import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageTokens } from '../../src/core/render/prompt-renderer.js';
import { runStrategies } from '../../src/core/runner.js';
import { openSession, type ProfilingSession } from '../../src/core/session.js';
import {
  batchedStatement,
  batchedStrategy,
  tokenTables,
  tokensSql,
  unicodeClasses,
} from '../../src/core/strategies/batched-strategy.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import { listTurns } from '../../src/core/turns.js';
import type { PromptContext, Turn } from '../../src/core/types.js';
import { loadFixtures } from '../../src/db/fixtures.js';
import type { StrategyReport } from '../../src/report/model.js';
import { backendKinds, emptyBackend, seededBackend, type TestBackend } from '../support/backends.js';

type Range = readonly [number, number];

/** Membership flags of every code point. */
function flags(ranges: readonly Range[]): Uint8Array {
  const out = new Uint8Array(0x110000);
  for (const [from, to] of ranges) out.fill(1, from, to + 1);
  return out;
}

/** Every code point a PostgreSQL text can hold (no NUL, no surrogates). */
function* codePoints(): Generator<number> {
  for (let cp = 1; cp <= 0x10ffff; cp++) if (cp < 0xd800 || cp > 0xdfff) yield cp;
}

const ch = (cp: number): string => String.fromCodePoint(cp);

/**
 * Texts around a capital sigma that tell whether X counts as cased or case-ignorable for the
 * final-sigma rule. The sigma's token ends in digits (neither cased nor case-ignorable) so it
 * is at least 3 code points long and the context crosses token boundaries.
 */
interface SigmaContext {
  text: string;
  /** Whether the sigma lowercases to ς, given whether X is cased and whether it is case-ignorable. */
  finalIf: (cased: boolean, ignorable: boolean) => boolean;
  /** The sigma's lowercase, in the lowercased text. */
  at: (lower: string) => string;
}

function sigmaContexts(x: string): SigmaContext[] {
  return [
    // Preceded by X alone: final only when X is a cased letter.
    { text: `${x}\u03a312`, finalIf: (c) => c, at: (l) => l.at(-3)! },
    // Preceded by X after a cased letter: X is skipped when case-ignorable.
    { text: `\u0391${x}\u03a312`, finalIf: (c, i) => c || i, at: (l) => l.at(-3)! },
    // Followed by X at the end: not final only when X is a cased letter.
    { text: `\u0391\u0392\u03a3${x}`, finalIf: (c) => !c, at: (l) => l[2]! },
    // Followed by X then a cased letter: X is skipped when case-ignorable.
    { text: `\u0391\u0392\u03a3${x}\u0392`, finalIf: (c, i) => !(c || i), at: (l) => l[2]! },
  ];
}

describe('batched tokenizer tables (this JavaScript engine)', () => {
  it('are exactly the Unicode classes of messageTokens and of the final-sigma rule, code point by code point', () => {
    const { token, ignorable, cased } = unicodeClasses();
    const isToken = flags(token);
    const isIgnorable = flags(ignorable);
    const isCased = flags(cased);
    const tokenRe = /^[\p{L}\p{M}\p{N}]$/u;
    const ignorableRe = /^\p{Case_Ignorable}$/u;
    const casedRe = /^\p{Cased}$/u;
    const wrong: string[] = [];
    for (const cp of codePoints()) {
      const s = ch(cp);
      if ((isToken[cp] === 1) !== tokenRe.test(s)) wrong.push(`token U+${cp.toString(16)}`);
      if ((isIgnorable[cp] === 1) !== ignorableRe.test(s)) wrong.push(`ignorable U+${cp.toString(16)}`);
      if ((isCased[cp] === 1) !== (casedRe.test(s) && !ignorableRe.test(s))) wrong.push(`cased U+${cp.toString(16)}`);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(token.length).toBeGreaterThan(700);
  });

  it('lowercasing never moves a code point into or out of the token class, so tokens can be lowercased one by one', () => {
    const isToken = flags(unicodeClasses().token);
    const wrong: number[] = [];
    for (const cp of codePoints()) {
      const lower = [...ch(cp).toLowerCase()].map((c) => c.codePointAt(0)!);
      if (lower.every((l) => isToken[l] === 1) !== (isToken[cp] === 1)) wrong.push(cp);
    }
    expect(wrong).toEqual([]);
    // The one lowercase mapping to several code points (U+0130 → i + U+0307) stays a token character.
    expect(tokenTables().expansions).toEqual([['\u0130', 'i\u0307']]);
  });

  it('predicts toLowerCase’s final sigma for every neighbouring code point', () => {
    const { ignorable, cased } = unicodeClasses();
    const isIgnorable = flags(ignorable);
    const isCased = flags(cased);
    const wrong: string[] = [];
    for (const cp of codePoints()) {
      for (const c of sigmaContexts(ch(cp))) {
        const final = c.at(c.text.toLowerCase()) === '\u03c2';
        if (final !== c.finalIf(isCased[cp] === 1, isIgnorable[cp] === 1)) wrong.push(JSON.stringify(c.text));
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
  });
});

/** Hand-picked texts: the languages of the fixtures and every special case of the definition. */
const HAND_PICKED = [
  'Do you ship to Köln? ok',
  'KÖLN ÄPFEL ÖL ÜBER Straße STRASSE GRÜẞE ẞ groß',
  'Ich möchte die Lieferung nach München, bitte! Größe 42?',
  // Persian with ZWNJ (U+200C): it splits words, as in JavaScript.
  'می‌خواهم سفارش بدهم، قیمت ۱۲۳ تومان؟ کتاب‌ها را می‌فرستید؟',
  'سلام! آیا این محصول موجود است؟ ارسال به تهران چقدر طول می‌کشد؟',
  'abc\u200cdef ab\u200ddef ab\u00a0def ab\u2060def',
  // Arabic with harakat (marks) and Arabic-Indic digits.
  'مَرْحَبًا بِكُمْ في المتجر ١٢٣ هل يوجد شحن؟',
  'السَّلَامُ عَلَيْكُمْ',
  // Greek final sigma in every position.
  "ΟΔΥΣΣΕΥΣ ΟΔΟΣ ΑΣ. ΑΣ.Β ΑΣ'Β ΣΑ Σ ΑΣ\u0301 ΑΣ\u0301Β ΑΣΣ",
  'ΚΑΛΗΣΠΕΡΑ ΣΑΣ, ΘΕΛΩ ΝΑ ΑΓΟΡΑΣΩ',
  // Turkish dotted capital I lowercases to two code points.
  'İSTANBUL İs İİ iİ KIRMIZI',
  // Letters outside Latin, astral letters and digits.
  'KELVIN \u212a ÅNGSTRÖM \u212b 𐐀𐐁𐐂 𝐀𝐁𝐂 𝟏𝟐𝟑 Ⅻ ⅫⅫⅫ ＡＢＣ',
  'ДОБРЫЙ ДЕНЬ Ёлка ԱԲԳ ႠႡႢ ᏣᎳᎩ',
  'emoji 😀abc😀 x̃yz e\u0301te\u0301 👍🏽👍🏽👍🏽',
  'snake_case kebab-case dot.case 3.14 1,000 x2y',
  '',
  '   ',
];

describe.each(backendKinds)('batched tokenizer in SQL equals messageTokens (%s)', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;

  beforeAll(async () => {
    backend = await emptyBackend(kind);
    session = await openSession(backend.url);
  });

  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  /** Texts whose SQL tokens differ from messageTokens (as sorted sets), with both. */
  async function mismatches(texts: readonly string[]): Promise<{ text: string; js: string[]; sql: string[] }[]> {
    const sql = tokensSql('m.content');
    const out: { text: string; js: string[]; sql: string[] }[] = [];
    for (let start = 0; start < texts.length; start += 4000) {
      const chunk = texts.slice(start, start + 4000);
      const { rows } = await session.db.query<{ i: string; toks: string[] }>(
        `select m.i, coalesce((select array_agg(z.tok) from (${sql}) z), '{}') as toks
           from unnest($1::text[]) with ordinality as m(content, i)`,
        [chunk],
      );
      expect(rows.length).toBe(chunk.length);
      for (const row of rows) {
        const text = chunk[Number(row.i) - 1]!;
        const js = [...messageTokens(text)].sort();
        const got = [...row.toks].sort();
        if (JSON.stringify(js) !== JSON.stringify(got)) out.push({ text, js, sql: got });
      }
    }
    return out;
  }

  it('on Persian, Arabic, German, Greek and Turkish text, ZWNJ, marks and astral letters', async () => {
    expect(await mismatches(HAND_PICKED)).toEqual([]);
    // The definition at work: ZWNJ splits, marks and digits join, İ grows to 3 code points.
    const sql = tokensSql('m.content');
    const tokens = async (text: string) =>
      (
        await session.db.query<{ toks: string[] }>(`select array(${sql}) as toks from (select $1::text as content) m`, [text])
      ).rows[0]!.toks.sort();
    expect(await tokens('می‌خواهم کتاب‌ها')).toEqual(['خواهم', 'کتاب']);
    expect(await tokens('ΟΔΟΣ ΣΑΣ1')).toEqual(['οδος', 'σας1']);
    expect(await tokens('İs GRÜẞE Köln')).toEqual(['grüße', 'i\u0307s', 'köln']);
    expect(await tokens('مَرْحَبًا ١٢٣')).toEqual(['مَرْحَبًا', '١٢٣']);
  });

  it('on every lowercase mapping, at every class boundary and on random text', async () => {
    const { token, ignorable, cased } = unicodeClasses();
    const texts: string[] = [];
    const usable = (cp: number) => cp >= 1 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    // Each translate()/replace() mapping, as a token of its own.
    for (const c of [...tokenTables().from, ...tokenTables().expansions.map(([a]) => a)]) texts.push(`${c}${c}${c} a${c}b`);
    // Both sides of every token-class boundary.
    for (const [from, to] of token) {
      for (const cp of [from - 1, from, to, to + 1]) if (usable(cp)) texts.push(`ab${ch(cp)}cd ${ch(cp)}${ch(cp)}${ch(cp)}`);
    }
    // The final-sigma rule at both sides of every cased and case-ignorable boundary.
    for (const [from, to] of [...ignorable, ...cased]) {
      for (const cp of [from - 1, from, to, to + 1]) {
        if (usable(cp)) for (const c of sigmaContexts(ch(cp))) texts.push(c.text);
      }
    }
    // Random text over scripts the tables care about, and over all of Unicode.
    let seed = 20251004;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const pools: Range[] = [
      [0x20, 0x7e],
      [0xa0, 0x24f],
      [0x300, 0x36f],
      [0x370, 0x3ff],
      [0x400, 0x52f],
      [0x600, 0x6ff],
      [0x200b, 0x200f],
      [0x1e00, 0x1fff],
      [0x2100, 0x218f],
      [0xfb50, 0xfdff],
      [0x10400, 0x1044f],
      [0x1d400, 0x1d7ff],
      [1, 0x10ffff],
    ];
    for (let k = 0; k < 3000; k++) {
      let text = '';
      const length = Math.floor(random() * 40);
      for (let j = 0; j < length; j++) {
        const [a, b] = pools[Math.floor(random() * pools.length)]!;
        let cp = a + Math.floor(random() * (b - a + 1));
        const r = random();
        if (!usable(cp) || r < 0.08) cp = 0x3a3;
        else if (r < 0.12) cp = 0x130;
        else if (r < 0.16) cp = 0x200c;
        text += ch(cp);
      }
      texts.push(text);
    }
    expect(texts.length).toBeGreaterThan(15_000);
    expect((await mismatches(texts)).slice(0, 5)).toEqual([]);
  });
});

describe.each(backendKinds)('batched on tiny (%s)', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;
  let turns: Turn[];
  let naive: StrategyReport;
  let batched: StrategyReport;

  beforeAll(async () => {
    backend = await seededBackend(kind, 'tiny');
    session = await openSession(backend.url);
    const fixtureIds = (await loadFixtures()).map((f) => f.id);
    turns = await listTurns(session.control, fixtureIds);
    const reports = await runStrategies(session, turns, [naiveStrategy, batchedStrategy]);
    naive = reports[0]!;
    batched = reports[1]!;
  });

  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  it('sends exactly one statement, in one round trip, returning one row, per turn', () => {
    expect(batched.turns).toBe(turns.length);
    for (const t of batched.turnDetails) {
      expect({ queries: t.queries, roundTrips: t.roundTrips, rows: t.rows }).toEqual({ queries: 1, roundTrips: 1, rows: 1 });
    }
    expect(batched.findings).toEqual([]);
  });

  it('sends only the message id and the tenant with each turn: the statement, tokenizer tables and all, is prepared once', () => {
    const statements = batched.turnDetails.map((t) => t.statements![0]!);
    expect(statements.map((s) => s.params)).toEqual(turns.map((t) => [t.messageId, t.tenantId]));
    expect(statements.every((s) => s.sql === batchedStatement().sql)).toBe(true);
    // Bind (the name, two parameters), Describe, Execute and Sync: no Parse, no tables.
    expect(statements.map((s) => s.sentBytes).reduce((a, b) => a + b, 0)).toBe(BATCHED_SENT_BYTES);
  });

  it('builds the prompt naive builds on every fixture turn', () => {
    expect(batched.contextIdentical).toBe(true);
    expect(batched.difference).toBeNull();
    expect(batched.turnDetails.map((t) => t.promptSha256)).toEqual(naive.turnDetails.map((t) => t.promptSha256));
  });

  it('returns the very context object naive returns (NULL stays null, empty text stays empty)', async () => {
    for (const turn of turns) {
      const a = await session.measure((db) => naiveStrategy.build(db, turn));
      const b = await session.measure((db) => batchedStrategy.build(db, turn));
      expect(b.error).toBeUndefined();
      expect(b.value).toStrictEqual(a.value);
    }
  });

  it('fetches at most 1.2 × the prompt’s bytes per turn, exactly the same bytes every time', async () => {
    for (const t of batched.turnDetails) expect(t.payloadBytes).toBeLessThanOrEqual(1.2 * t.promptBytes);
    expect(batched.turnDetails.map((t) => t.payloadBytes)).toEqual(BATCHED_PAYLOAD_BYTES);
    expect(batched.totals).toEqual(BATCHED_TOTALS);
    const [again] = await runStrategies(session, turns, [batchedStrategy]);
    expect(again!.turnDetails.map((t) => [t.bytes, t.payloadBytes, t.promptSha256])).toEqual(
      batched.turnDetails.map((t) => [t.bytes, t.payloadBytes, t.promptSha256]),
    );
  });

  it('fails with the message id when the message does not exist', async () => {
    const m = await session.measure((db) => batchedStrategy.build(db, { ...turns[0]!, messageId: 'nope000000' }));
    expect(String(m.error)).toContain('message nope000000 not found');
    expect(m.statements.length).toBe(1);
  });
});

describe.each(backendKinds)('batched FAQ scores of keywords that are not an array (%s)', (kind) => {
  let backend: TestBackend;

  beforeAll(async () => {
    backend = await seededBackend(kind, 'tiny');
  });

  afterAll(async () => {
    await backend?.close();
  });

  it('are 0 for an object, a string or nested arrays, as naive scores them, though `?` finds an object key or a string scalar', async () => {
    const setup = await openSession(backend.url, { readOnly: false });
    let turn: Turn;
    try {
      [turn] = await listTurns(setup.control, [(await loadFixtures())[0]!.id]);
      const { rows } = await setup.control.raw('select content from messages where id = ?', [turn!.messageId]);
      const tokens = [...messageTokens(rows[0].content)];
      expect(tokens.length).toBeGreaterThan(0);
      // Three FAQs whose keywords hold the tokens of M, but not as an array of strings; last on
      // confidence, so naive ranks them after every other FAQ.
      await setup.control.raw(
        `with x as (
           select id, row_number() over (order by id) as k from faqs where user_id = ? and is_approved order by id limit 3
         )
         update faqs f set confidence_score = -1,
                question = (array['keywords: object', 'keywords: string', 'keywords: nested'])[x.k],
                keywords = (array[(select jsonb_object_agg(t, 1) from unnest(?::text[]) t), to_jsonb(?::text), jsonb_build_array(to_jsonb(?::text[]))])[x.k]
           from x where f.id = x.id`,
        [turn!.tenantId, tokens, tokens[0]!, tokens],
      );
    } finally {
      await setup.close();
    }
    const session = await openSession(backend.url);
    try {
      const naive = await session.measure((db) => naiveStrategy.build(db, turn));
      const batched = await session.measure((db) => batchedStrategy.build(db, turn));
      expect([naive.error, batched.error]).toEqual([undefined, undefined]);
      expect((naive.value as PromptContext).faqs.map((f) => f.question)).not.toContain('keywords: object');
      expect(batched.value).toStrictEqual(naive.value);
    } finally {
      await session.close();
    }
  });
});

describe.each(backendKinds)('batched on default, generated conversations (%s)', (kind) => {
  let backend: TestBackend;
  let session: ProfilingSession;
  let turns: Turn[];
  let naive: StrategyReport;
  let batched: StrategyReport;

  beforeAll(async () => {
    backend = await seededBackend(kind, 'default');
    session = await openSession(backend.url);
    const { rows } = await session.control.raw(
      `select id from conversations where id not like '%-%' order by id collate "C" limit 5`,
    );
    turns = await listTurns(
      session.control,
      rows.map((r: { id: string }) => r.id),
    );
    const reports = await runStrategies(session, turns, [naiveStrategy, batchedStrategy]);
    naive = reports[0]!;
    batched = reports[1]!;
  });

  afterAll(async () => {
    await session?.close();
    await backend?.close();
  });

  it('builds the prompt naive builds on every turn, one statement per turn, within 1.2 × the prompt’s bytes', () => {
    expect(turns.length).toBe(DEFAULT_TURNS);
    expect(batched.contextIdentical).toBe(true);
    expect(batched.turnDetails.map((t) => t.promptSha256)).toEqual(naive.turnDetails.map((t) => t.promptSha256));
    for (const t of batched.turnDetails) {
      expect({ queries: t.queries, roundTrips: t.roundTrips }).toEqual({ queries: 1, roundTrips: 1 });
      expect(t.payloadBytes).toBeLessThanOrEqual(1.2 * t.promptBytes);
    }
    expect(batched.totals).toEqual(DEFAULT_BATCHED_TOTALS);
  });
});

// Exact figures, seed 1: the same on PGlite 0.5 (PostgreSQL 18) and PostgreSQL 15.
// tiny, the shipped fixtures in loadFixtures() order.
const BATCHED_PAYLOAD_BYTES = [
  11803, 12016, 12169, 12184, 12300, 12459, 12490, 11914, 12163, 12343, 12556, 2012, 2220, 2350, 2560, 19138, 19450, 19746, 20206,
  20085, 20107,
];
const BATCHED_TOTALS = { queries: 21, roundTrips: 21, bytes: 266_618, payloadBytes: 262_271, rows: 21 };
const BATCHED_SENT_BYTES = 2142;
// default, the first 5 generated conversations by id.
const DEFAULT_TURNS = 86;
const DEFAULT_BATCHED_TOTALS = { queries: 86, roundTrips: 86, bytes: 1_209_889, payloadBytes: 1_192_087, rows: 86 };
