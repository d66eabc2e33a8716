/**
 * What a tenant publishes: products, website sources with their crawled pages, FAQs and the
 * assistant's prompts. Deliberate ties sit exactly at the limits docs/design.md §3 uses (6th/7th
 * active product, 2nd/3rd source, 5th/6th completed page), so only a tie-break by id gives
 * every strategy the same context.
 */
import { BASE_TIME_MS, DAY, HOUR } from './clock.js';
import { displayPrice, drawVars, fixedVars, productPriceCents } from './content.js';
import { buildRawHtml, RAW_MAX_BYTES, RAW_MIN_BYTES, type PageSection } from './html.js';
import { CRAWL_ERRORS, LEXICON, TONES, TOPICS, type Business, type LangPack } from './lexicon.js';
import { Rng } from './prng.js';
import type { TenantProfile } from './roster.js';
import type { JsonValue, RowOf } from './schema.js';
import { centsToDecimal, distinct, fill, isoTime, keywordTokens, slug, utf8Bytes } from './text.js';

const PRODUCT_TYPES: Readonly<Record<Business, readonly string[]>> = {
  fashion: ['apparel', 'accessory', 'footwear'],
  electronics: ['device', 'accessory', 'service'],
  beauty: ['skincare', 'makeup', 'haircare'],
  home: ['furniture', 'decor', 'kitchen'],
};
const CONFIDENCE = [0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1];

/** Something with an id and an updated_at in milliseconds (ties are made on these). */
interface Dated {
  id: string;
  createdMs: number;
  updatedMs: number;
}

/** Sorted as every strategy must sort: updated_at desc, id asc (byte order). */
function byRecency<T extends Dated>(items: readonly T[]): T[] {
  return items.slice().sort((a, b) => b.updatedMs - a.updatedMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Gives `b` the same updated_at as `a` (keeping created_at ≤ updated_at). */
function tie(a: Dated, b: Dated): void {
  b.updatedMs = a.updatedMs;
  if (b.createdMs > b.updatedMs) b.createdMs = b.updatedMs;
}

/** Copies a neighbour's updated_at onto a few random items: incidental ties. */
function sprinkleTies(rng: Rng, items: readonly Dated[], p: number): void {
  for (let k = 1; k < items.length; k++) if (rng.chance(p)) tie(items[rng.below(k)], items[k]);
}

/** Picks `count` distinct indices of [0, n). */
function pickIndices(rng: Rng, n: number, count: number): Set<number> {
  return new Set(rng.sample([...Array(n).keys()], count));
}

function title(pack: LangPack, noun: string, adjective: string): string {
  const text = pack.titleOrder === 'adj-noun' ? `${adjective} ${noun}` : `${noun} ${adjective}`;
  return text[0].toUpperCase() + text.slice(1);
}

/** Truncates to at most `max` code points. */
function clip(text: string, max: number): string {
  const points = [...text];
  return points.length <= max ? text : points.slice(0, max - 1).join('') + '…';
}

interface ProductDraft extends Dated {
  row: Omit<RowOf<'products'>, 'is_active' | 'created_at' | 'updated_at'>;
}

/** The `products` rows of a tenant: ≥ 7 active, some inactive, ties at the 6th/7th place. */
export function tenantProducts(seed: number, tenant: TenantProfile): RowOf<'products'>[] {
  const rng = new Rng(seed, 'products', tenant.id);
  const pack = LEXICON[tenant.lang];
  const catalog = pack.catalog[tenant.business];
  const vars = drawVars(rng, pack, tenant.business, tenant.businessName);
  const drafts: ProductDraft[] = [];
  for (let k = 0; k < tenant.products; k++) {
    const id = rng.uuid();
    const noun = rng.pick(catalog.nouns);
    const adjective = rng.pick(catalog.adjectives);
    const color = rng.pick(pack.colors);
    const material = rng.pick(catalog.materials);
    const name = title(pack, noun, adjective) + (rng.chance(0.4) ? ` (${color})` : '');
    const own = { ...vars, product: noun, color, material };
    const sentences = rng.sample(pack.productSentences, rng.int(2, 4)).map((t) => fill(t, own));
    const descRoll = rng.float();
    const cents = productPriceCents(pack, rng);
    const linkRoll = rng.float();
    const createdMs = BASE_TIME_MS - rng.int(30 * DAY, 500 * DAY);
    const tags = rng.chance(0.05) ? [] : distinct(keywordTokens(`${noun} ${adjective} ${color} ${rng.pick(catalog.nouns)}`));
    const images: JsonValue[] = [];
    const imageCount = rng.chance(0.05) ? 0 : rng.int(1, 4);
    for (let i = 0; i < imageCount; i++) {
      images.push({ url: `https://${tenant.domain}/media/products/${id.slice(0, 8)}-${i + 1}.jpg`, alt: name, width: 1080, height: 1350 });
    }
    drafts.push({
      id,
      createdMs,
      updatedMs: createdMs + rng.below(BASE_TIME_MS - createdMs),
      row: {
        id,
        user_id: tenant.id,
        title: name,
        product_type: rng.pick(PRODUCT_TYPES[tenant.business]),
        description: descRoll < 0.05 ? null : descRoll < 0.08 ? '' : sentences.join(' '),
        price: rng.chance(0.05) ? null : centsToDecimal(cents),
        link: linkRoll < 0.07 ? null : linkRoll < 0.1 ? '' : `https://${tenant.domain}/product/${slug(name)}-${k + 1}`,
        tags,
        specifications: rng.chance(0.05)
          ? {}
          : {
              color,
              material,
              sku: `${tenant.domain.slice(0, 3).toUpperCase()}-${String(k + 1).padStart(4, '0')}`,
              weight_g: rng.int(20, 4000),
              dimensions_cm: [rng.int(5, 200), rng.int(5, 200), rng.int(1, 80)],
              in_box: rng.chance(0.5) ? [noun] : [],
            },
        features: rng.sample(pack.features, rng.int(2, 4)).map((t) => fill(t, own)),
        images,
        meta_description: rng.chance(0.75) ? clip(sentences[0], 160) : null,
      },
    });
  }
  sprinkleTies(rng, drafts, 0.1);
  // At least 7 stay active, so the 6th and 7th most recent can tie (the LIMIT 6 boundary).
  const inactive = pickIndices(rng, drafts.length, Math.min(Math.round(drafts.length * 0.15) + rng.int(0, 1), drafts.length - 7));
  const active = drafts.filter((_, k) => !inactive.has(k));
  const ranked = byRecency(active);
  if (ranked.length >= 7) tie(ranked[5], ranked[6]);
  return drafts.map((d, k) => ({
    ...d.row,
    is_active: !inactive.has(k),
    created_at: isoTime(d.createdMs),
    updated_at: isoTime(d.updatedMs),
  }));
}

/** A website source before it is written. */
export interface SourceHeader extends Dated {
  readonly index: number;
  readonly name: string;
  readonly url: string;
}

/** A crawled page before its HTML exists. */
export interface PageHeader extends Dated {
  readonly source: SourceHeader;
  readonly index: number;
  readonly url: string;
  readonly title: string;
  readonly status: 'completed' | 'pending' | 'failed';
  readonly crawledMs: number | null;
}

/** A tenant's websites: sources with their rows, and page headers (HTML is made when written). */
export interface TenantWebsites {
  readonly sources: readonly RowOf<'website_sources'>[];
  readonly sourceHeaders: readonly SourceHeader[];
  readonly pages: readonly PageHeader[];
}

const SOURCE_HOSTS = ['', 'blog.', 'help.', 'shop.', 'news.'];

/** Sources and page headers of a tenant (none for tenant 3). Cheap: no HTML is built here. */
export function tenantWebsites(seed: number, tenant: TenantProfile): TenantWebsites {
  const rng = new Rng(seed, 'websites', tenant.id);
  const pack = LEXICON[tenant.lang];
  const vars = drawVars(rng, pack, tenant.business, tenant.businessName);
  const sourceHeaders: (SourceHeader & { row: Omit<RowOf<'website_sources'>, 'created_at' | 'updated_at'> })[] = [];
  tenant.pagesPerSource.forEach((pageCount, s) => {
    const id = rng.uuid();
    const host = s < SOURCE_HOSTS.length ? SOURCE_HOSTS[s] : `site${s}.`;
    const url = `https://${host}${tenant.domain}`;
    const name = pack.sourceNames[s % pack.sourceNames.length] + (s >= pack.sourceNames.length ? ` ${s + 1}` : '');
    const statusRoll = rng.float();
    const crawlStatus = statusRoll < 0.8 ? 'completed' : statusRoll < 0.9 ? 'failed' : 'in_progress';
    const descRoll = rng.float();
    const createdMs = BASE_TIME_MS - rng.int(60 * DAY, 300 * DAY);
    sourceHeaders.push({
      id,
      index: s,
      name,
      url,
      createdMs,
      updatedMs: createdMs + rng.below(BASE_TIME_MS - createdMs),
      row: {
        id,
        user_id: tenant.id,
        name,
        url,
        description: descRoll < 0.1 ? null : descRoll < 0.15 ? '' : fill(pack.sourceDescriptions[s % pack.sourceDescriptions.length], vars),
        max_pages: rng.pick([50, 100, 200, 500].filter((m) => m >= pageCount).concat([1000])),
        crawl_depth: rng.int(2, 5),
        crawl_status: crawlStatus,
        pages_crawled: pageCount,
        crawl_error_message: crawlStatus === 'failed' ? rng.pick(CRAWL_ERRORS) : null,
        crawl_progress: crawlStatus === 'completed' ? 100 : crawlStatus === 'failed' ? rng.int(0, 60) : rng.int(20, 190) / 2,
      },
    });
  });
  sprinkleTies(rng, sourceHeaders, 0.1);
  const rankedSources = byRecency(sourceHeaders);
  if (rankedSources.length >= 3) tie(rankedSources[1], rankedSources[2]);
  else if (rankedSources.length === 2) tie(rankedSources[0], rankedSources[1]);

  const pages: PageHeader[] = [];
  for (const source of sourceHeaders) {
    const count = tenant.pagesPerSource[source.index];
    // At least 6 completed per source, so the 5th and 6th most recent can tie (the LIMIT 5 boundary).
    const notCompleted = pickIndices(rng, count, Math.min(rng.int(0, Math.round(count * 0.25)), count - 6));
    const sourcePages: PageHeader[] = [];
    for (let p = 0; p < count; p++) {
      const id = rng.uuid();
      const pageTitle = p === 0 ? tenant.businessName : fill(rng.pick(pack.pageTitles), vars);
      const status = notCompleted.has(p) ? (rng.chance(0.5) ? 'pending' : 'failed') : 'completed';
      const createdMs = source.createdMs + rng.below(BASE_TIME_MS - source.createdMs);
      const updatedMs = createdMs + rng.below(BASE_TIME_MS - createdMs);
      sourcePages.push({
        id,
        source,
        index: p,
        url: p === 0 ? `${source.url}/` : `${source.url}/${slug(pageTitle)}-${p}`,
        title: pageTitle,
        status,
        createdMs,
        updatedMs,
        crawledMs: status === 'failed' ? null : updatedMs - rng.below(HOUR),
      });
    }
    sprinkleTies(rng, sourcePages, 0.08);
    const completed = byRecency(sourcePages.filter((pg) => pg.status === 'completed'));
    if (completed.length >= 6) tie(completed[4], completed[5]);
    pages.push(...sourcePages);
  }
  return {
    sources: sourceHeaders.map((s) => ({ ...s.row, created_at: isoTime(s.createdMs), updated_at: isoTime(s.updatedMs) })),
    sourceHeaders,
    pages,
  };
}

/**
 * The `website_pages` row of a page: raw HTML of 10–60 KB, cleaned text of 1–8 KB, summary
 * and metadata. Pending pages are crawled but not processed; failed pages have no HTML.
 */
export function pageRow(seed: number, tenant: TenantProfile, page: PageHeader, siblings: readonly PageHeader[]): RowOf<'website_pages'> {
  const rng = new Rng(seed, 'page', page.id);
  const pack = LEXICON[tenant.lang];
  // One city per page, so a page does not claim five home towns.
  const vars = { ...drawVars(rng, pack, tenant.business, tenant.businessName), city: rng.pick(pack.cities) };
  const productName = () => rng.pick(pack.catalog[tenant.business].nouns);
  const base = {
    id: page.id,
    website_id: page.source.id,
    url: page.url,
    title: page.title,
    processing_status: page.status,
    crawled_at: page.crawledMs === null ? null : isoTime(page.crawledMs),
    created_at: isoTime(page.createdMs),
    updated_at: isoTime(page.updatedMs),
  };
  if (page.status === 'failed') {
    return {
      ...base,
      raw_content: null,
      cleaned_content: '',
      summary: null,
      meta_description: null,
      meta_keywords: null,
      word_count: 0,
      h1_tags: [],
      h2_tags: [],
      links: [],
    };
  }

  // Cleaned text first (1–8 KB), then the HTML that contains it.
  const cleanedTarget = rng.int(1100, 7600);
  const sections: PageSection[] = [];
  let cleaned = page.title;
  let bytes = utf8Bytes(cleaned);
  while (bytes < cleanedTarget) {
    const section: PageSection = { heading: rng.pick(pack.headings), paragraphs: [] };
    sections.push(section);
    cleaned += `\n\n${section.heading}`;
    bytes = utf8Bytes(cleaned);
    const paragraphs = rng.int(1, 3);
    for (let p = 0; p < paragraphs && bytes < cleanedTarget; p++) {
      const sentences: string[] = [];
      const want = rng.int(2, 5);
      for (let s = 0; s < want; s++) sentences.push(fill(rng.pick(pack.pageSentences), vars));
      const paragraph = sentences.join(' ');
      section.paragraphs.push(paragraph);
      cleaned += `\n${paragraph}`;
      bytes = utf8Bytes(cleaned);
    }
  }
  if (bytes > 8000) {
    // Trim on a code point boundary so the text stays within 8 KB.
    cleaned = Buffer.from(cleaned, 'utf8').subarray(0, 8000).toString('utf8').replace(/\uFFFD+$/u, '');
  }

  const keywords = distinct(keywordTokens(`${page.title} ${productName()} ${productName()}`)).slice(0, 8);
  const description = rng.chance(0.8) ? clip(sections[0]?.paragraphs[0] ?? page.title, 160) : null;
  const metaKeywords = rng.chance(0.7) ? keywords.join(', ') : rng.chance(0.3) ? '' : null;
  const links = distinct([`${page.source.url}/`, ...rng.sample(siblings, rng.int(3, 12)).map((pg) => pg.url)]);
  const productCards: { title: string; price: string; href: string }[] = [];
  for (let c = 0; c < 6; c++) {
    const noun = productName();
    productCards.push({ title: noun, price: displayPrice(pack, productPriceCents(pack, rng)), href: `${page.source.url}/p/${c + 1}` });
  }
  const raw = buildRawHtml(
    {
      lang: tenant.lang,
      title: page.title,
      description,
      keywords: metaKeywords || null,
      business: tenant.businessName,
      origin: page.source.url,
      nav: pack.nav,
      sections,
      cards: productCards,
      links,
    },
    rng,
    rng.int(RAW_MIN_BYTES, RAW_MAX_BYTES - 3000),
  );
  const pending = page.status === 'pending';
  const summaryRoll = rng.float();
  return {
    ...base,
    raw_content: raw,
    cleaned_content: pending ? null : cleaned,
    summary: pending
      ? null
      : summaryRoll < 0.05
        ? ''
        : fill(rng.pick(pack.summaries), { ...vars, title: page.title }) + (summaryRoll < 0.5 ? ` ${fill(rng.pick(pack.pageSentences), vars)}` : ''),
    meta_description: description,
    meta_keywords: metaKeywords,
    word_count: pending ? null : cleaned.split(/\s+/u).filter((w) => w.length > 0).length,
    h1_tags: [page.title],
    h2_tags: pending ? [] : sections.map((s) => s.heading),
    links,
  };
}

/** The `faqs` rows of a tenant: ≥ 8 approved, confidence scores that tie, keywords customers use. */
export function tenantFaqs(seed: number, tenant: TenantProfile, websites: TenantWebsites): RowOf<'faqs'>[] {
  if (!tenant.full || tenant.faqs === 0) return [];
  const rng = new Rng(seed, 'faqs', tenant.id);
  const pack = LEXICON[tenant.lang];
  const completedPages = websites.pages.filter((p) => p.status === 'completed');
  const unapproved = pickIndices(rng, tenant.faqs, Math.min(Math.round(tenant.faqs * 0.18), tenant.faqs - 8));
  const rows: RowOf<'faqs'>[] = [];
  for (let k = 0; k < tenant.faqs; k++) {
    const id = rng.uuid();
    const topic = k < TOPICS.length ? TOPICS[k] : rng.pick(TOPICS);
    const text = pack.topics[topic];
    const vars = fixedVars(rng, pack, tenant.business, tenant.businessName);
    const pair = rng.below(Math.min(text.faqQuestions.length, text.faqAnswers.length));
    const keywords = distinct(
      [
        ...rng.sample(text.keywords, rng.int(3, Math.min(6, text.keywords.length))),
        ...(rng.chance(0.6) ? [vars.product] : []),
        ...(rng.chance(0.25) ? [vars.city] : []),
      ].flatMap(keywordTokens),
    );
    const contextRoll = rng.float();
    const sentenceCount = rng.int(1, 3);
    const context: string[] = [];
    for (let s = 0; s < sentenceCount; s++) context.push(fill(rng.pick(pack.pageSentences), vars));
    const createdMs = BASE_TIME_MS - rng.int(10 * DAY, 200 * DAY);
    rows.push({
      id,
      user_id: tenant.id,
      page_id: completedPages.length > 0 && rng.chance(0.7) ? rng.pick(completedPages).id : null,
      question: fill(text.faqQuestions[pair], vars),
      answer: fill(text.faqAnswers[pair], vars),
      context: contextRoll < 0.65 ? context.join(' ') : contextRoll < 0.85 ? null : '',
      keywords,
      confidence_score: rng.chance(0.08) ? null : rng.pick(CONFIDENCE),
      category: rng.chance(0.05) ? null : topic,
      is_approved: !unapproved.has(k),
      created_at: isoTime(createdMs),
      updated_at: isoTime(createdMs + rng.below(BASE_TIME_MS - createdMs)),
    });
  }
  return rows;
}

/** The `users` row of a tenant. */
export function userRow(tenant: TenantProfile): RowOf<'users'> {
  return {
    id: tenant.id,
    email: `owner${tenant.id}@${tenant.domain}`,
    business_name: tenant.businessName,
    first_name: tenant.ownerFirstName,
    last_name: tenant.ownerLastName,
    created_at: isoTime(BASE_TIME_MS - (400 + tenant.id * 3) * DAY + tenant.id * 7 * HOUR),
  };
}

/** The `ai_prompts` row of a tenant, or null for a tenant that never configured one. */
export function promptRow(seed: number, tenant: TenantProfile): RowOf<'ai_prompts'> | null {
  if (tenant.prompt === 'none') return null;
  const rng = new Rng(seed, 'prompt', tenant.id);
  const pack = LEXICON[tenant.lang];
  const vars = drawVars(rng, pack, tenant.business, tenant.businessName);
  let manual = fill(rng.pick(pack.manualPrompts), vars);
  if (rng.chance(0.5)) manual += `\n\n${fill(rng.pick(pack.pageSentences), vars)}\n${fill(rng.pick(pack.pageSentences), vars)}`;
  return {
    id: tenant.id,
    user_id: tenant.id,
    manual_prompt: manual,
    auto_prompt: tenant.prompt === 'no-auto' ? null : fill(rng.pick(pack.autoPrompts), vars),
    tone: rng.pick(TONES),
    updated_at: isoTime(BASE_TIME_MS - rng.int(DAY, 90 * DAY)),
  };
}
