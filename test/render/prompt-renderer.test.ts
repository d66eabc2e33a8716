import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  firstCodePoints,
  messageTokens,
  promptBytes,
  promptSha256,
  renderPrompt,
  speakerFor,
} from '../../src/core/render/prompt-renderer.js';
import type { PromptContext } from '../../src/core/types.js';

const golden = (name: string) => readFileSync(new URL(`../golden/${name}`, import.meta.url), 'utf8');

const full: PromptContext = {
  system: { businessName: 'فروشگاه نور', manualPrompt: 'Be brief.\nAnswer in Persian.', autoPrompt: null, tone: 'friendly' },
  customer: { firstName: 'Sara', lastName: null, phoneNumber: '+98 912 000 0000', source: 'instagram' },
  history: [
    { speaker: 'Sara', content: 'سلام، قیمت؟' },
    { speaker: 'AI', content: null },
    { speaker: 'customer', content: '' },
  ],
  products: [
    { title: 'Lamp', productType: 'physical', description: 'A lamp', price: '19.90', link: null, tags: ['light', 'home'] },
    { title: null, productType: null, description: null, price: null, link: 'https://x.test/p', tags: [] },
  ],
  websites: [{ name: 'Docs', url: 'https://docs.test', description: null }],
  pages: [{ website: 'Docs', title: 'Shipping', url: 'https://docs.test/ship', summary: 'How we ship', excerpt: 'ارسال رایگان' }],
  faqs: [{ question: 'Do you ship?', answer: 'Yes.' }],
  question: 'ارسال به تهران چقدر طول می‌کشد؟',
};

describe('renderPrompt', () => {
  it('renders the golden layout: every section, NULL as empty text, prices as text, tags joined', () => {
    const prompt = renderPrompt(full);
    expect(prompt).toBe(golden('prompt-full.txt'));
    expect(prompt).not.toMatch(/null|undefined/);
  });

  it('renders missing rows as empty sections', () => {
    const empty: PromptContext = {
      system: null,
      customer: null,
      history: [],
      products: [],
      websites: [],
      pages: [],
      faqs: [],
      question: null,
    };
    expect(renderPrompt(empty)).toBe(golden('prompt-empty.txt'));
  });

  it('measures the prompt in UTF-8 bytes and hashes those bytes', () => {
    expect(promptBytes('é')).toBe(2);
    expect(promptBytes('ب')).toBe(2);
    expect(promptSha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('prompt details shared by every strategy', () => {
  it('speaker: the customer first name, `customer` when absent, else the type', () => {
    expect(speakerFor('customer', 'Sara')).toBe('Sara');
    expect(speakerFor('customer', null)).toBe('customer');
    expect(speakerFor('customer', undefined)).toBe('customer');
    expect(speakerFor('AI', 'Sara')).toBe('AI');
    expect(speakerFor('support', null)).toBe('support');
  });

  it('tokens: lowercase runs of letters, marks and digits of at least 3 code points, distinct', () => {
    expect(messageTokens('Do you SHIP to Köln?? ok, ship 2025!')).toEqual(['you', 'ship', 'köln', '2025']);
    // Persian: ZWNJ (U+200C) is not a letter, so it splits; marks stay inside a word.
    expect(messageTokens('ارسال به تهران می‌کشد')).toEqual(['ارسال', 'تهران', 'کشد']);
    expect(messageTokens(null)).toEqual([]);
  });

  it('first 600 characters counts code points, as PostgreSQL left() does', () => {
    const emoji = '😀'.repeat(700);
    expect([...firstCodePoints(emoji, 600)!]).toHaveLength(600);
    expect(firstCodePoints('abc', 600)).toBe('abc');
    expect(firstCodePoints(null, 600)).toBeNull();
  });
});
