/**
 * Conversation and message ids: 10 characters of base62 (`0-9A-Za-z`), mixed case, so that
 * byte order (`COLLATE "C"`, JavaScript) differs from a locale's order — a strategy that
 * forgets `COLLATE "C"` shows up as a context diff.
 *
 * Ids come from a keyed permutation of [0, 62^10) applied to a counter, so they look random
 * yet are unique by construction (no collision check, no memory for a million ids).
 */
import { mix32 } from './prng.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const HALF = 2 ** 30;
// 62^10 = 839299365868340224, split into 30-bit halves (exact: computed with BigInt once).
const DOMAIN = 62n ** 10n;
const DOMAIN_HI = Number(DOMAIN >> 30n);
const DOMAIN_LO = Number(DOMAIN & BigInt(HALF - 1));

/** Length of every generated conversation/message id. */
export const GENERATED_ID_LENGTH = 10;

/**
 * A bijection of [0, 62^10): a 4-round Feistel network on 60 bits (two 30-bit halves, so all
 * arithmetic stays exact in doubles) with cycle-walking back into the domain.
 *
 * @example
 * const ids = new IdPermutation([1, 2, 3, 4]);
 * ids.id(0); // e.g. 'q3ZbT0aKx9', never repeated for another index
 */
export class IdPermutation {
  private readonly keys: readonly number[];

  constructor(keys: readonly number[]) {
    if (keys.length !== 4) throw new Error('IdPermutation needs 4 round keys');
    this.keys = keys.map((k) => k >>> 0);
  }

  /** The id of counter value `index` (0 ≤ index < 2^53). */
  id(index: number): string {
    let hi = Math.floor(index / HALF);
    let lo = index % HALF;
    do {
      for (const key of this.keys) {
        const f = mix32((lo ^ key) >>> 0) & (HALF - 1);
        const next = (hi ^ f) >>> 0;
        hi = lo;
        lo = next;
      }
    } while (!(hi < DOMAIN_HI || (hi === DOMAIN_HI && lo < DOMAIN_LO)));
    return toBase62(hi, lo);
  }
}

/** Base62 of hi·2^30 + lo as exactly 10 digits, by long division on the two halves. */
function toBase62(hi: number, lo: number): string {
  const digits: string[] = new Array<string>(GENERATED_ID_LENGTH);
  for (let i = GENERATED_ID_LENGTH - 1; i >= 0; i--) {
    const qHi = Math.floor(hi / 62);
    const rHi = hi - qHi * 62;
    const combined = rHi * HALF + lo; // < 62·2^30, exact
    const qLo = Math.floor(combined / 62);
    digits[i] = ALPHABET[combined - qLo * 62];
    hi = qHi;
    lo = qLo;
  }
  return digits.join('');
}
