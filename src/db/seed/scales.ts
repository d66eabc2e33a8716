/**
 * Dataset scales: named presets and numeric multipliers of `default` (docs/design.md §2).
 */
import { UsageError } from '../../core/errors.js';

/**
 * How big the generated dataset is. Counts are per tenant; generated tenants (4..N) vary
 * around them deterministically, the fixed roster tenants (1–3) use them as they are.
 */
export interface ScaleSpec {
  /** Canonical name (`tiny`, `default`, `large`, `x2`, `x0.5`): part of cache keys. */
  readonly name: string;
  /** Number of tenants (`users` rows), at least 3 (the fixed roster). */
  readonly tenants: number;
  /** Generated conversations per tenant (fixtures come on top). */
  readonly conversationsPerTenant: number;
  /** Messages per generated conversation, inclusive range. */
  readonly messagesPerConversation: readonly [min: number, max: number];
  /** Products per tenant (at least 8: 7 active are guaranteed, so the 6th and 7th can tie). */
  readonly productsPerTenant: number;
  /** Website sources per full tenant (at least 2). */
  readonly sourcesPerTenant: number;
  /** Pages per website source (at least 8: 6 completed are guaranteed, so the 5th and 6th can tie). */
  readonly pagesPerSource: number;
  /** FAQs per full tenant (at least 10: 8 approved are guaranteed). */
  readonly faqsPerTenant: number;
}

const TINY: ScaleSpec = {
  name: 'tiny',
  tenants: 4,
  conversationsPerTenant: 3,
  messagesPerConversation: [5, 60],
  productsPerTenant: 8,
  sourcesPerTenant: 2,
  pagesPerSource: 8,
  faqsPerTenant: 12,
};

const DEFAULT: ScaleSpec = {
  name: 'default',
  tenants: 10,
  conversationsPerTenant: 50,
  messagesPerConversation: [5, 60],
  productsPerTenant: 40,
  sourcesPerTenant: 3,
  pagesPerSource: 20,
  faqsPerTenant: 240,
};

const LARGE: ScaleSpec = {
  name: 'large',
  tenants: 20,
  conversationsPerTenant: 1650,
  messagesPerConversation: [5, 60],
  productsPerTenant: 120,
  sourcesPerTenant: 3,
  pagesPerSource: 30,
  faqsPerTenant: 300,
};

/** The named presets, by name. */
export const SCALE_PRESETS: Readonly<Record<'tiny' | 'default' | 'large', ScaleSpec>> = {
  tiny: TINY,
  default: DEFAULT,
  large: LARGE,
};

/** Largest accepted multiplier: beyond it, a preset-sized run would not fit a laptop. */
export const MAX_MULTIPLIER = 100;

/**
 * `default` scaled by `factor`: more (or fewer) conversations, products, pages and FAQs per
 * tenant; the tenant roster stays the same. Floors keep every roster guarantee.
 */
export function multiplyDefault(factor: number): ScaleSpec {
  const scaled = (n: number, floor: number) => Math.max(floor, Math.round(n * factor));
  return {
    name: factor === 1 ? 'default' : `x${factor}`,
    tenants: DEFAULT.tenants,
    conversationsPerTenant: scaled(DEFAULT.conversationsPerTenant, 1),
    messagesPerConversation: DEFAULT.messagesPerConversation,
    productsPerTenant: scaled(DEFAULT.productsPerTenant, 8),
    sourcesPerTenant: DEFAULT.sourcesPerTenant,
    pagesPerSource: scaled(DEFAULT.pagesPerSource, 8),
    faqsPerTenant: scaled(DEFAULT.faqsPerTenant, 12),
  };
}

/**
 * Resolves `--scale`: `tiny`, `default`, `large`, or a multiplier of `default` (`2`, `0.5`,
 * `x3`).
 *
 * @example
 * resolveScale('tiny').name;  // 'tiny'
 * resolveScale('x2').name;    // 'x2'
 * resolveScale('0.5').conversationsPerTenant; // 25
 * resolveScale('huge');       // throws UsageError
 */
export function resolveScale(input: string): ScaleSpec {
  const text = input.trim().toLowerCase();
  if (text === 'tiny' || text === 'default' || text === 'large') return SCALE_PRESETS[text];
  const match = /^x?(\d+(?:\.\d+)?|\.\d+)$/.exec(text);
  if (match) {
    const factor = Number(match[1]);
    if (Number.isFinite(factor) && factor > 0 && factor <= MAX_MULTIPLIER) {
      return multiplyDefault(factor);
    }
  }
  throw new UsageError(
    `--scale: expected tiny, default, large or a multiplier of default greater than 0 and at most ${MAX_MULTIPLIER} (e.g. 2, 0.5, x3), got ${JSON.stringify(input)}`,
  );
}
