/**
 * The one renderer: a plain PromptContext in, the prompt text out (docs/design.md §3). Strategies only
 * fetch; two strategies produce the same prompt exactly when they fetch the same context.
 */
import { createHash } from 'node:crypto';
import type { PromptContext } from '../types.js';

/** NULL renders as empty text, never `null`/`undefined`. */
function text(value: string | null | undefined): string {
  return value ?? '';
}

/**
 * Speaker of a history line: for a `customer` message its customer's first name (or
 * `customer` when there is none), otherwise the message type.
 *
 * @example
 * speakerFor('customer', 'Sara') // 'Sara'
 * speakerFor('AI', 'Sara')       // 'AI'
 */
export function speakerFor(type: string | null, customerFirstName: string | null | undefined): string {
  if (type === 'customer') return customerFirstName ?? 'customer';
  return type ?? '';
}

/**
 * Tokens of a customer message for FAQ scoring: lowercase, maximal runs of Unicode letters,
 * marks and digits, at least 3 code points long, distinct, in order of first appearance.
 *
 * @example
 * messageTokens('Do you ship to Köln? ok') // ['you', 'ship', 'köln']
 */
export function messageTokens(message: string | null): string[] {
  const tokens = new Set<string>();
  for (const match of text(message).toLowerCase().matchAll(/[\p{L}\p{M}\p{N}]+/gu)) {
    // Code points, not UTF-16 units: a Persian or emoji-free word counts each letter once.
    if ([...match[0]].length >= 3) tokens.add(match[0]);
  }
  return [...tokens];
}

/** The first `n` code points of a text, as PostgreSQL's `left()` counts them. */
export function firstCodePoints(value: string | null, n: number): string | null {
  if (value === null) return null;
  let out = '';
  let count = 0;
  for (const ch of value) {
    if (count === n) break;
    out += ch;
    count += 1;
  }
  return out;
}

/** Characters of cleaned_content a page line carries (docs/design.md §3.5). */
export const PAGE_EXCERPT_CODE_POINTS = 600;

/**
 * Renders the prompt for one turn.
 *
 * @example
 * const prompt = renderPrompt(context);
 * const sha = promptSha256(prompt);
 */
export function renderPrompt(context: PromptContext): string {
  const out: string[] = [];
  const section = (title: string, lines: string[]): void => {
    out.push(`## ${title}`, ...lines, '');
  };

  const s = context.system;
  section(
    'SYSTEM',
    s === null
      ? []
      : [
          `Business: ${text(s.businessName)}`,
          `Tone: ${text(s.tone)}`,
          'Instructions:',
          text(s.manualPrompt),
          'Learned instructions:',
          text(s.autoPrompt),
        ],
  );

  const c = context.customer;
  section(
    'CUSTOMER',
    c === null
      ? []
      : [
          `First name: ${text(c.firstName)}`,
          `Last name: ${text(c.lastName)}`,
          `Phone: ${text(c.phoneNumber)}`,
          `Channel: ${text(c.source)}`,
        ],
  );

  section(
    'HISTORY',
    context.history.map((h) => `${h.speaker}: ${text(h.content)}`),
  );

  section(
    'PRODUCTS',
    context.products.flatMap((p) => [
      `- ${text(p.title)} [${text(p.productType)}] ${text(p.price)}`,
      `  Description: ${text(p.description)}`,
      `  Link: ${text(p.link)}`,
      `  Tags: ${p.tags.join(', ')}`,
    ]),
  );

  section('WEBSITES', [
    ...context.websites.map((w) => `- ${text(w.name)} <${text(w.url)}>: ${text(w.description)}`),
    ...context.pages.flatMap((p) => [
      `- Page of ${text(p.website)}: ${text(p.title)} <${text(p.url)}>`,
      `  Summary: ${text(p.summary)}`,
      `  Content: ${text(p.excerpt)}`,
    ]),
  ]);

  section(
    'FAQ',
    context.faqs.flatMap((f) => [`Q: ${text(f.question)}`, `A: ${text(f.answer)}`]),
  );

  out.push('## QUESTION', text(context.question), '');
  return out.join('\n');
}

/**
 * Hex sha256 of the prompt's UTF-8 bytes.
 *
 * @example
 * promptSha256(renderPrompt(context)) // 64 hex digits
 */
export function promptSha256(prompt: string): string {
  return createHash('sha256').update(prompt, 'utf8').digest('hex');
}

/**
 * UTF-8 size of the prompt in bytes (never its string length).
 *
 * @example
 * promptBytes('é') // 2
 */
export function promptBytes(prompt: string): number {
  return Buffer.byteLength(prompt, 'utf8');
}
