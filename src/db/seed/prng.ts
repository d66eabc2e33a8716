/**
 * Deterministic randomness for the reference dataset. Only integer arithmetic (`Math.imul`,
 * shifts, xor) and exact double operations are used, so the same seed gives the same stream
 * on every machine and every JavaScript engine. Never `Math.random`.
 */

/** A stream key: the parts that name one independent random stream. */
export type StreamKey = readonly (string | number)[];

/** murmur3's 32-bit finaliser: a cheap bijective mixer. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Hashes a stream key to 32 bits (FNV-1a over UTF-16 units, then mixed). `salt` gives
 * independent hashes of the same key.
 */
export function hashKey(key: StreamKey, salt = 0): number {
  let h = (0x811c9dc5 ^ Math.imul(salt + 1, 0x9e3779b9)) >>> 0;
  for (const part of key) {
    // Type-tag every part so ['1'] and [1] (and ['a', 'b'] vs ['ab']) hash differently.
    const text = typeof part === 'number' ? `#${part}` : `$${part}`;
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0xff;
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

const TWO_32 = 4294967296;

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator), seeded with 128 bits hashed
 * from a stream key. Independent entities (one tenant's products, one conversation's
 * messages) each get their own stream, so generating one never shifts another.
 *
 * @example
 * const rng = new Rng(42, 'products', 1);
 * rng.int(1, 6); // same value on every machine
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, ...stream: StreamKey) {
    const key = [seed, ...stream];
    this.a = hashKey(key, 0);
    this.b = hashKey(key, 1);
    this.c = hashKey(key, 2);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** The next 32-bit unsigned integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.next() / TWO_32;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor((this.next() / TWO_32) * n);
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty array');
    return items[this.below(items.length)];
  }

  /** `k` distinct elements (fewer when the array is shorter), in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    const copy = items.slice();
    const n = Math.min(k, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + this.below(copy.length - i);
      const tmp = copy[i];
      copy[i] = copy[j];
      copy[j] = tmp;
    }
    return copy.slice(0, n);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** A lowercase UUID that looks like v4 (version and variant bits set). */
  uuid(): string {
    const w0 = this.next();
    const w1 = this.next();
    const w2 = this.next();
    const w3 = this.next();
    const hex = (w: number) => w.toString(16).padStart(8, '0');
    const h1 = hex(w1);
    const h2 = hex(w2);
    const version = '4' + h1.slice(5, 8);
    const variant = ((parseInt(h2[0], 16) & 0x3) | 0x8).toString(16) + h2.slice(1, 4);
    return `${hex(w0)}-${h1.slice(0, 4)}-${version}-${variant}-${h2.slice(4, 8)}${hex(w3)}`;
  }
}
