/**
 * Built-in word lists for the generated text. Each language pack holds templates with
 * `{placeholders}` (filled by text.ts) for every kind of text the dataset needs: customer
 * questions and AI replies, FAQ questions/answers/keywords, product copy and website pages.
 *
 * FAQ keywords of a topic are the words customers use when they ask about that topic, so the
 * FAQ ranking of docs/design.md §3.6 has real hits (and misses) to rank.
 */
import { AR } from './lexicon-ar.js';
import { DE } from './lexicon-de.js';
import { EN } from './lexicon-en.js';
import { ES } from './lexicon-es.js';
import { FA } from './lexicon-fa.js';

import type { LangPack, Lang } from './lexicon-types.js';

export * from './lexicon-types.js';

/** All language packs, by language. */
export const LEXICON: Readonly<Record<Lang, LangPack>> = { fa: FA, en: EN, de: DE, es: ES, ar: AR };

/** Tone values of `ai_prompts.tone` (a choice field in the real backend). */
export const TONES = ['friendly', 'formal', 'professional', 'playful', 'empathetic'] as const;

/** Messages a crawler leaves in `website_sources.crawl_error_message`. */
export const CRAWL_ERRORS = [
  'HTTP 403 Forbidden while fetching robots.txt',
  'Timeout after 30000 ms on /products?page=4',
  'TLS handshake failed: certificate has expired',
  'Too many redirects (10) starting at /fa/shop',
] as const;
