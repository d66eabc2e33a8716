/**
 * The tenant roster: the same tenants, languages and businesses at every scale (documented
 * in fixtures/README.md), so fixtures can name tenants by id. Only the *amount* of data per
 * tenant depends on the scale (and, for generated tenants, on the seed).
 */
import { LEXICON, type Business, type Lang } from './lexicon.js';
import { Rng } from './prng.js';
import type { ScaleSpec } from './scales.js';
import { fill } from './text.js';

/** Which parts of `ai_prompts` a tenant has. */
export type PromptKind = 'full' | 'no-auto' | 'none';

/** One tenant and how much data it gets. */
export interface TenantProfile {
  readonly id: number;
  readonly lang: Lang;
  readonly business: Business;
  readonly businessName: string;
  /** Domain of the tenant's websites and email. */
  readonly domain: string;
  readonly ownerFirstName: string;
  readonly ownerLastName: string | null;
  /** Has website sources, pages and FAQs (every tenant but 3). */
  readonly full: boolean;
  readonly prompt: PromptKind;
  readonly conversations: number;
  readonly customers: number;
  /** First `customers.id` of this tenant's customers (ids are consecutive). */
  readonly firstCustomerId: number;
  readonly products: number;
  /** Pages of each website source (length = number of sources). */
  readonly pagesPerSource: readonly number[];
  readonly faqs: number;
}

const GENERATED_LANGS: readonly Lang[] = ['de', 'ar', 'es', 'fa', 'en'];
const GENERATED_BUSINESSES: readonly Business[] = ['beauty', 'home', 'fashion', 'electronics'];
const LATIN_NAMES = ['aurora', 'cedar', 'lumen', 'sahel', 'nova', 'orchid', 'harbor', 'zagros', 'alma', 'tiva'];
const TLD: Readonly<Record<Lang, string>> = { fa: 'ir', en: 'com', de: 'de', es: 'es', ar: 'ae' };

interface FixedTenant {
  lang: Lang;
  business: Business;
  name: string;
  domain: string;
  owner: [string, string | null];
  full: boolean;
  prompt: PromptKind;
}

/** Tenants 1–3: a Persian shop, an English shop, and a Spanish shop with no websites or FAQs. */
const FIXED: Readonly<Record<number, FixedTenant>> = {
  1: { lang: 'fa', business: 'fashion', name: 'بوتیک ماهور', domain: 'mahoor-boutique.ir', owner: ['نگار', 'ماهوری'], full: true, prompt: 'full' },
  2: { lang: 'en', business: 'electronics', name: 'Northwind Gadgets', domain: 'northwindgadgets.com', owner: ['Oliver', 'Grant'], full: true, prompt: 'full' },
  3: { lang: 'es', business: 'home', name: 'Casa Nogal', domain: 'casanogal.es', owner: ['Marta', null], full: false, prompt: 'no-auto' },
};

/** Language, business and name of tenant `id` (seed-independent). */
export function tenantIdentity(id: number): Omit<FixedTenant, 'full'> & { full: boolean } {
  const fixed = FIXED[id];
  if (fixed) return fixed;
  const lang = GENERATED_LANGS[(id - 4) % GENERATED_LANGS.length];
  const business = GENERATED_BUSINESSES[(id - 4) % GENERATED_BUSINESSES.length];
  const pack = LEXICON[lang];
  const catalog = pack.catalog[business];
  const brand = pack.brands[(id * 3) % pack.brands.length];
  const name = fill(catalog.namePatterns[id % catalog.namePatterns.length], { brand });
  const domain = `${LATIN_NAMES[(id - 4) % LATIN_NAMES.length]}${id}.${TLD[lang]}`;
  const owner: [string, string | null] = [
    pack.firstNames[(id * 5) % pack.firstNames.length],
    id % 7 === 0 ? null : pack.lastNames[(id * 3) % pack.lastNames.length],
  ];
  // Tenant 6 never configured its assistant; every 4th tenant from 5 has no crawled auto prompt.
  const prompt: PromptKind = id === 6 ? 'none' : id % 4 === 1 ? 'no-auto' : 'full';
  return { lang, business, name, domain, owner, full: true, prompt };
}

/**
 * The roster at `scale`: tenants 1..scale.tenants with their row counts. Generated tenants
 * (4..N) are 0.5–1.5× the scale's per-tenant counts, drawn from the seed; floors keep every
 * guarantee (≥ 2 sources of ≥ 8 pages, ≥ 8 products, ≥ 12 FAQs for full tenants).
 */
export function buildRoster(scale: ScaleSpec, seed: number, fixtureCustomers: number): TenantProfile[] {
  const tenants: TenantProfile[] = [];
  let nextCustomerId = fixtureCustomers + 1;
  for (let id = 1; id <= scale.tenants; id++) {
    const identity = tenantIdentity(id);
    const rng = new Rng(seed, 'tenant-size', id);
    // Factor in twentieths (10..30 → 0.5..1.5): exact arithmetic, no float drift across machines.
    const twentieths = id <= 3 ? 20 : rng.int(10, 30);
    const scaled = (n: number, floor: number) => Math.max(floor, Math.round((n * twentieths) / 20));
    const conversations = scaled(scale.conversationsPerTenant, 1);
    const customers = Math.max(1, Math.ceil((conversations * 4) / 5));
    let pagesPerSource: number[] = [];
    if (identity.full) {
      const sources = id <= 3 ? Math.max(2, scale.sourcesPerTenant) : rng.int(2, Math.max(2, scale.sourcesPerTenant) + 1);
      pagesPerSource = [];
      for (let s = 0; s < sources; s++) {
        const jitter = rng.int(14, 26); // 0.7..1.3 in twentieths
        pagesPerSource.push(Math.max(8, Math.round((scale.pagesPerSource * twentieths * jitter) / 400)));
      }
    }
    tenants.push({
      id,
      lang: identity.lang,
      business: identity.business,
      businessName: identity.name,
      domain: identity.domain,
      ownerFirstName: identity.owner[0],
      ownerLastName: identity.owner[1],
      full: identity.full,
      prompt: identity.prompt,
      conversations,
      customers,
      firstCustomerId: nextCustomerId,
      products: scaled(scale.productsPerTenant, 8),
      pagesPerSource,
      faqs: identity.full ? scaled(scale.faqsPerTenant, 12) : 0,
    });
    nextCustomerId += customers;
  }
  return tenants;
}
