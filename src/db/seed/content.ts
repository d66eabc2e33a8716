/**
 * Placeholder values shared by every kind of generated text: products, cities, numbers and
 * prices in the tenant's (or customer's) language.
 */
import type { Business, LangPack } from './lexicon.js';
import type { Rng } from './prng.js';
import { centsToDecimal, groupThousands, localDigits, type FillValue } from './text.js';

/** Placeholder values drawn afresh at every occurrence. */
export function drawVars(rng: Rng, pack: LangPack, business: Business, businessName: string): Record<string, FillValue> {
  const lang = pack.lang;
  return {
    product: () => rng.pick(pack.catalog[business].nouns),
    color: () => rng.pick(pack.colors),
    material: () => rng.pick(pack.catalog[business].materials),
    city: () => rng.pick(pack.cities),
    days: () => localDigits(lang, String(rng.int(2, 14)), rng),
    percent: () => localDigits(lang, String(rng.int(2, 10) * 5), rng),
    price: () => localDigits(lang, smallAmount(pack, rng), rng),
    order: () => localDigits(lang, String(rng.int(10000, 999999)), rng),
    name: () => rng.pick(pack.firstNames),
    business: businessName,
    category: pack.catalog[business].category,
  };
}

/**
 * The same placeholders, drawn once, so a question, its answer and its keywords talk about
 * the same product and city.
 */
export function fixedVars(rng: Rng, pack: LangPack, business: Business, businessName: string): Record<string, string> {
  const drawn = drawVars(rng, pack, business, businessName);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(drawn)) out[key] = typeof value === 'function' ? value() : value;
  return out;
}

/** An amount for running text: a shipping fee, a threshold, a price. */
function smallAmount(pack: LangPack, rng: Rng): string {
  switch (pack.currency) {
    case 'IRT':
      return groupThousands(rng.int(5, 300) * 10000);
    case 'AED':
      return String(rng.int(2, 60) * 5);
    default:
      return String(rng.int(3, 120));
  }
}

/** A product price in integer cents, in the pack's currency. */
export function productPriceCents(pack: LangPack, rng: Rng): number {
  switch (pack.currency) {
    case 'IRT':
      return rng.int(15, 980) * 10000 * 100;
    case 'AED':
      return rng.int(20, 1500) * 100 + rng.pick([0, 0, 50]);
    default:
      return rng.int(5, 499) * 100 + rng.pick([0, 90, 95, 99]);
  }
}

/** A price as shown on a product card. */
export function displayPrice(pack: LangPack, cents: number): string {
  const amount = centsToDecimal(cents);
  switch (pack.currency) {
    case 'IRT':
      return `${groupThousands(Math.floor(cents / 100))} تومان`;
    case 'AED':
      return `${amount} د.إ`;
    case 'EUR':
      return `${amount.replace('.', ',')} €`;
    default:
      return `$${amount}`;
  }
}

/** Joins a greeting and a sentence the way the language punctuates it ("Hi! How…", "سلام، …", "Hola. ¿Cuánto…"). */
export function joinGreeting(lang: string, greeting: string, text: string): string {
  if (lang === 'fa' || lang === 'ar') return /[!?؟،]$/.test(greeting) ? `${greeting} ${text}` : `${greeting}، ${text}`;
  const bare = greeting.replace(/,$/, '');
  if (/[!?.]$/.test(bare)) return `${bare} ${text}`;
  return `${bare}${lang === 'es' ? '.' : '!'} ${text}`;
}
