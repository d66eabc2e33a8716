/**
 * Prompt tokens: counted offline with the chosen encoding, carried per turn, per strategy and in
 * totals, gated by --max-prompt-tokens and budget files, and shown in the table.
 */
import { describe, expect, it } from 'vitest';
import { parseBudget } from '../../src/core/budget.js';
import { loadTokenizer, parseTokenizerName } from '../../src/core/tokens.js';
import { runInProcess as run } from '../support/cli.js';

const fixed = 'test/report/strategies/fixed-prompt.mjs';
const text = 'سلام، hello world — پیشنهاد';

describe('tokenizers', () => {
  it('count exactly, differently per encoding, and treat special-token text as text', async () => {
    const o200k = (await loadTokenizer('o200k'))!;
    const cl100k = (await loadTokenizer('cl100k'))!;
    expect(o200k.encoding).toBe('o200k_base');
    expect(cl100k.encoding).toBe('cl100k_base');
    expect(o200k.count('hello world')).toBe(2);
    expect(o200k.count(text)).toBe(6);
    expect(cl100k.count(text)).toBe(13);
    expect(o200k.count('a <|endoftext|> b')).toBe(9);
    expect(await loadTokenizer('none')).toBeNull();
  });

  it('names: aliases accepted, unknown ones refused naming the known ones', () => {
    expect(parseTokenizerName('O200K_BASE')).toBe('o200k');
    expect(parseTokenizerName('cl100k_base')).toBe('cl100k');
    expect(() => parseTokenizerName('gemini')).toThrow(/--tokenizer: unknown tokenizer "gemini" \(expected o200k, cl100k, none/);
  });

  it('a budget file may limit promptTokens per strategy, never per section', () => {
    const budget = parseBudget('b.json', { strategies: { fixed: { promptTokens: 5 } } });
    expect(budget.strategies.fixed!.limits.promptTokens).toBe(5);
    expect(() => parseBudget('b.json', { strategies: { fixed: { sections: { faq: { promptTokens: 5 } } } } })).toThrow(
      'b.json: strategies.fixed.sections.faq.promptTokens: prompt tokens belong to a whole turn',
    );
  });
});

describe('prompt tokens in reports', () => {
  it('per turn, per strategy and in totals, with the encoding named; equal where prompts are equal', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--conversation', 'en-first-1', '--strategies', `naive,optimized,${fixed}`, '--format', 'json']);
    expect(r.code).toBe(1); // fixed's prompt differs from naive's
    const report = JSON.parse(r.stdout);
    expect(report.tokenizer).toBe('o200k_base');
    const [naive, optimized, own] = report.strategies;
    expect(naive.turnDetails.length).toBeGreaterThan(0);
    for (const t of own.turnDetails) expect(t.promptTokens).toBe(6);
    expect(own.totals.promptTokens).toBe(6 * own.turns);
    expect(own.perTurn.promptTokens).toBe(6);
    naive.turnDetails.forEach((t: { promptTokens: number }, i: number) => {
      expect(t.promptTokens).toBeGreaterThan(100);
      expect(optimized.turnDetails[i].promptTokens).toBe(t.promptTokens);
    });
    expect(optimized.totals.promptTokens).toBe(naive.totals.promptTokens);
  });

  it('--tokenizer cl100k counts with that encoding; none leaves tokens out', async () => {
    const cl = JSON.parse((await run(['compare', '--scale', 'tiny', '--turns', 'test/cli/strategies/turns.json', '--strategies', fixed, '--tokenizer', 'cl100k', '--format', 'json'])).stdout);
    expect(cl.tokenizer).toBe('cl100k_base');
    expect(cl.strategies[0].turnDetails.map((t: { promptTokens: number }) => t.promptTokens)).toEqual([13, 13, 13]);
    const none = JSON.parse((await run(['compare', '--scale', 'tiny', '--turns', 'test/cli/strategies/turns.json', '--strategies', fixed, '--tokenizer', 'none', '--format', 'json'])).stdout);
    expect(none.tokenizer).toBeNull();
    expect(none.strategies[0].perTurn.promptTokens).toBeUndefined();
    expect(none.strategies[0].totals.promptTokens).toBeUndefined();
    expect(none.strategies[0].turnDetails[0].promptTokens).toBeUndefined();
  });

  it('--max-prompt-tokens below the figure exits 1 naming it; at the figure exits 0', async () => {
    const args = ['compare', '--scale', 'tiny', '--turns', 'test/cli/strategies/turns.json', '--strategies', fixed];
    const over = await run([...args, '--max-prompt-tokens', '5']);
    expect(over.code).toBe(1);
    expect(over.stdout).toContain('fixed · turn t1: prompt tokens 6 > budget 5');
    expect((await run([...args, '--max-prompt-tokens', '6'])).code).toBe(0);
    const bad = await run([...args, '--max-prompt-tokens', '6', '--tokenizer', 'none']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--tokenizer none: a promptTokens budget needs a tokenizer');
    const unknown = await run([...args, '--tokenizer', 'gemini']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--tokenizer: unknown tokenizer "gemini"');
  });

  it('the table shows prompt tokens and wire bytes per prompt token', async () => {
    const r = await run(['compare', '--scale', 'tiny', '--turns', 'test/cli/strategies/turns.json', '--strategies', fixed]);
    expect(r.code).toBe(0);
    const report = JSON.parse((await run(['compare', '--scale', 'tiny', '--turns', 'test/cli/strategies/turns.json', '--strategies', fixed, '--format', 'json'])).stdout);
    // 66 wire bytes per turn for 6 tokens.
    expect(report.strategies[0].perTurn.bytes).toBe(66);
    const perToken = '11';
    expect(r.stdout).toMatch(/│ prompt tokens\s+│\s+6 │/);
    expect(r.stdout).toMatch(new RegExp(`│ wire bytes/prompt token\\s+│\\s+${perToken} │`));
  });
});
