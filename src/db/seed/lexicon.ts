/**
 * Built-in word lists for the generated text. Each language pack holds templates with
 * `{placeholders}` (filled by text.ts) for every kind of text the dataset needs: customer
 * questions and AI replies, FAQ questions/answers/keywords, product copy and website pages.
 *
 * FAQ keywords of a topic are the words customers use when they ask about that topic, so the
 * FAQ ranking of DESIGN §3.6 has real hits (and misses) to rank.
 */
import { AR } from './lexicon-ar.js';
import { DE } from './lexicon-de.js';
import { EN } from './lexicon-en.js';
import { ES } from './lexicon-es.js';
import { FA } from './lexicon-fa.js';

/** Languages of the generated text. */
export type Lang = 'fa' | 'en' | 'de' | 'es' | 'ar';

/** Kinds of tenant business; each has its own product vocabulary. */
export type Business = 'fashion' | 'electronics' | 'beauty' | 'home';

/** FAQ and question topics. */
export const TOPICS = [
  'shipping',
  'price',
  'returns',
  'warranty',
  'payment',
  'size',
  'stock',
  'discount',
  'tracking',
  'contact',
] as const;
export type Topic = (typeof TOPICS)[number];

/** Text about one topic in one language. */
export interface TopicText {
  /** FAQ keywords: lowercase single words of ≥ 3 letters that customers' questions use. */
  readonly keywords: readonly string[];
  /** FAQ questions; `faqAnswers[i]` answers `faqQuestions[i]`. */
  readonly faqQuestions: readonly string[];
  readonly faqAnswers: readonly string[];
  readonly customerQuestions: readonly string[];
}

/** Product vocabulary of one kind of business in one language. */
export interface CatalogText {
  /** What the products are made of. */
  readonly materials: readonly string[];
  readonly nouns: readonly string[];
  readonly adjectives: readonly string[];
  /** What the business sells, as a phrase ("women's clothing"). */
  readonly category: string;
  /** Business name patterns with `{brand}`. */
  readonly namePatterns: readonly string[];
}

/** Everything one language contributes. */
export interface LangPack {
  readonly lang: Lang;
  /** Currency of product prices; decides the price range. */
  readonly currency: 'IRT' | 'USD' | 'EUR' | 'AED';
  /** Whether a product title reads "noun adjective" (fa, ar, es) or "adjective noun". */
  readonly titleOrder: 'noun-adj' | 'adj-noun';
  readonly firstNames: readonly string[];
  readonly lastNames: readonly string[];
  readonly cities: readonly string[];
  readonly brands: readonly string[];
  readonly greetings: readonly string[];
  readonly thanks: readonly string[];
  readonly followUps: readonly string[];
  readonly aiOpeners: readonly string[];
  readonly aiClosers: readonly string[];
  readonly supportLines: readonly string[];
  readonly marketingLines: readonly string[];
  readonly colors: readonly string[];
  readonly productSentences: readonly string[];
  readonly features: readonly string[];
  readonly pageSentences: readonly string[];
  readonly pageTitles: readonly string[];
  readonly headings: readonly string[];
  readonly nav: readonly string[];
  readonly sourceNames: readonly string[];
  readonly sourceDescriptions: readonly string[];
  readonly summaries: readonly string[];
  readonly bios: readonly string[];
  readonly manualPrompts: readonly string[];
  readonly autoPrompts: readonly string[];
  readonly conversationTitles: readonly string[];
  readonly feedbackComments: readonly string[];
  readonly topics: Readonly<Record<Topic, TopicText>>;
  readonly catalog: Readonly<Record<Business, CatalogText>>;
}

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
