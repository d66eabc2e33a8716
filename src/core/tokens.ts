/**
 * Prompt tokens: what the model is billed for. Counted offline with the `gpt-tokenizer`
 * package's byte-pair encodings, which are OpenAI's published encodings (the same ranks as
 * tiktoken), so `o200k` and `cl100k` counts are exact for the models that use them. No
 * faithful offline tokenizer exists for Gemini (its SentencePiece model is not published as a
 * package), so none is offered: a guessed count would be an estimate, and ctxbench measures.
 */
import { UsageError } from './errors.js';

/** The tokenizers ctxbench can count with, and `none` to skip counting. */
export const TOKENIZERS = ['o200k', 'cl100k', 'none'] as const;
export type TokenizerName = (typeof TOKENIZERS)[number];

/** The default: o200k_base, the encoding of OpenAI's current models (GPT-4o and later). */
export const DEFAULT_TOKENIZER: TokenizerName = 'o200k';

/** The `--tokenizer` option's help, the same on every command that counts prompt tokens. */
export const TOKENIZER_HELP = `count prompt tokens with ${TOKENIZERS.filter((t) => t !== 'none').join(' or ')}, or none (default: ${DEFAULT_TOKENIZER})`;

/** A loaded tokenizer: its name and a function that counts the tokens of a text. */
export interface Tokenizer {
  name: Exclude<TokenizerName, 'none'>;
  /** The encoding's own name, as its publisher calls it (`o200k_base`). */
  encoding: string;
  count(text: string): number;
}

// Text that looks like a special token (`<|endoftext|>`) is counted as the ordinary text it is,
// as a chat API treats user content, instead of throwing.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

const ALIASES: Record<string, TokenizerName> = {
  o200k: 'o200k',
  o200k_base: 'o200k',
  cl100k: 'cl100k',
  cl100k_base: 'cl100k',
  none: 'none',
};

/**
 * Parses a `--tokenizer` value; an unknown name is a usage error listing the known ones.
 *
 * @example
 * parseTokenizerName('cl100k_base') // 'cl100k'
 */
export function parseTokenizerName(value: string): TokenizerName {
  const name = ALIASES[value.trim().toLowerCase()];
  if (name === undefined) {
    throw new UsageError(
      `--tokenizer: unknown tokenizer "${value}" (expected ${TOKENIZERS.join(', ')}; Gemini's has no faithful offline tokenizer)`,
    );
  }
  return name;
}

/**
 * Loads a tokenizer (its rank table is loaded on first use only: some megabytes), or null for `none`.
 *
 * @example
 * const tokenizer = await loadTokenizer('o200k');
 * tokenizer?.count('hello world'); // 2
 */
export async function loadTokenizer(name: TokenizerName = DEFAULT_TOKENIZER): Promise<Tokenizer | null> {
  if (name === 'none') return null;
  if (name === 'cl100k') {
    const { countTokens } = await import('gpt-tokenizer/encoding/cl100k_base');
    return { name, encoding: 'cl100k_base', count: remembered((text) => countTokens(text, AS_TEXT)) };
  }
  const { countTokens } = await import('gpt-tokenizer/encoding/o200k_base');
  return { name, encoding: 'o200k_base', count: remembered((text) => countTokens(text, AS_TEXT)) };
}

/**
 * Counts each distinct text once: strategies that agree build the same prompt for a turn, and
 * encoding a 12 kB prompt takes milliseconds. Bounded, so a long run cannot grow it without end.
 */
function remembered(count: (text: string) => number, limit = 512): (text: string) => number {
  const seen = new Map<string, number>();
  return (text) => {
    const known = seen.get(text);
    if (known !== undefined) return known;
    const n = count(text);
    if (seen.size >= limit) seen.delete(seen.keys().next().value!);
    seen.set(text, n);
    return n;
  };
}
