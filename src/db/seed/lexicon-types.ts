/**
 * The shape of a language pack of the seeder's vocabulary: types only (and the topic list),
 * so that the packs and the lexicon that gathers them import downwards.
 */

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
