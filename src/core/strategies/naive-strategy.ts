/**
 * naive — the seed's "before", statement for statement what Django's ORM runs: `SELECT *`
 * everywhere and no identity map, so every `message.customer` and `page.website` read is a
 * query of its own (N+1), pages are fetched per website, and every approved FAQ of the tenant
 * is fetched whole and ranked in JavaScript.
 */
import { productLine, websiteLine } from './reference-rows.js';
import { REFERENCE_SCHEMA } from '../schema-check.js';
import { firstCodePoints, messageTokens, PAGE_EXCERPT_CODE_POINTS, speakerFor } from '../render/prompt-renderer.js';
import type { FaqLine, PageLine, PromptContext, Strategy } from '../types.js';
import { defineStrategy } from './define-strategy.js';

type Row = Record<string, any>;

/** How many of a kind the prompt takes (docs/design.md §3). */
export const HISTORY_MESSAGES = 6;
export const PRODUCTS = 6;
export const WEBSITES = 2;
export const PAGES_PER_WEBSITE = 5;
export const FAQS = 8;

/**
 * The naive strategy (the baseline).
 *
 * @example
 * const report = await compare({ strategies: [naiveStrategy, optimizedStrategy] });
 */
export const naiveStrategy: Strategy = defineStrategy({
  name: 'naive',
  requires: REFERENCE_SCHEMA,
  description: "Django's ORM before the seed's change: SELECT *, N+1 reads, FAQs ranked in JS",
  async build({ knex, section }, turn): Promise<PromptContext> {
    // Message.objects.get(id=...)
    const message: Row | undefined = await section('question', () => knex('messages').where({ id: turn.messageId }).first());
    if (message === undefined) throw new Error(`message ${turn.messageId} not found`);
    // message.conversation, conversation.user, user.ai_prompt
    const { conversation, user, aiPrompt } = await section('system', async () => {
      const conversation: Row | undefined = await knex('conversations').where({ id: message.conversation_id }).first();
      const user: Row | undefined = conversation && (await knex('users').where({ id: conversation.user_id }).first());
      const aiPrompt: Row | undefined = user && (await knex('ai_prompts').where({ user_id: user.id }).first());
      return { conversation, user, aiPrompt };
    });
    // conversation.customer
    const customer: Row | undefined = await section('customer', async () =>
      conversation?.customer_id == null ? undefined : knex('customers').where({ id: conversation.customer_id }).first(),
    );

    const history = await section('history', async () => {
      // Message.objects.filter(conversation=...).order_by('-created_at')[:6], as of M
      const recent: Row[] = await knex('messages')
        .where({ conversation_id: message.conversation_id })
        .whereRaw('(created_at, id collate "C") < (select m.created_at, m.id collate "C" from messages m where m.id = ?)', [
          message.id,
        ])
        .orderByRaw('created_at desc, id collate "C" desc')
        .limit(HISTORY_MESSAGES);
      const history = [];
      for (const m of recent.reverse()) {
        // No identity map: message.customer is one query per message that has one.
        const author: Row | undefined =
          m.customer_id == null ? undefined : await knex('customers').where({ id: m.customer_id }).first();
        history.push({ speaker: speakerFor(m.type, author?.first_name), content: m.content });
      }
      return history;
    });

    const user_id = conversation?.user_id ?? turn.tenantId;
    const products: Row[] = await section('products', () =>
      knex('products')
        .where({ user_id, is_active: true })
        .orderBy([
          { column: 'updated_at', order: 'desc' },
          { column: 'id', order: 'asc' },
        ])
        .limit(PRODUCTS),
    );

    const { websites, pages } = await section('websites', async () => {
      const websites: Row[] = await knex('website_sources')
        .where({ user_id })
        .orderBy([
          { column: 'updated_at', order: 'desc' },
          { column: 'id', order: 'asc' },
        ])
        .limit(WEBSITES);
      const pages: PageLine[] = [];
      for (const site of websites) {
        const sitePages: Row[] = await knex('website_pages')
          .where({ website_id: site.id, processing_status: 'completed' })
          .orderBy([
            { column: 'updated_at', order: 'desc' },
            { column: 'id', order: 'asc' },
          ])
          .limit(PAGES_PER_WEBSITE);
        for (const page of sitePages) {
          // page.website: one query per page.
          const website: Row | undefined = await knex('website_sources').where({ id: page.website_id }).first();
          pages.push({
            website: website?.name ?? null,
            title: page.title,
            url: page.url,
            summary: page.summary,
            excerpt: firstCodePoints(page.cleaned_content, PAGE_EXCERPT_CODE_POINTS),
          });
        }
      }
      return { websites, pages };
    });

    const faqRows: Row[] = await section('faqs', () => knex('faqs').where({ user_id, is_approved: true }));
    const tokens = messageTokens(message.content);
    const faqs: FaqLine[] = faqRows
      .map((f) => {
        const keywords = new Set<unknown>(Array.isArray(f.keywords) ? f.keywords : []);
        return { row: f, score: tokens.filter((t) => keywords.has(t)).length };
      })
      .sort(
        (a, b) =>
          b.score - a.score ||
          compareConfidence(a.row.confidence_score, b.row.confidence_score) ||
          compareText(a.row.id, b.row.id),
      )
      .slice(0, FAQS)
      .map(({ row }) => ({ question: row.question, answer: row.answer }));

    return {
      system:
        user === undefined
          ? null
          : {
              businessName: user.business_name,
              manualPrompt: aiPrompt?.manual_prompt ?? null,
              autoPrompt: aiPrompt?.auto_prompt ?? null,
              tone: aiPrompt?.tone ?? null,
            },
      customer:
        customer === undefined
          ? null
          : {
              firstName: customer.first_name,
              lastName: customer.last_name,
              phoneNumber: customer.phone_number,
              source: conversation?.source ?? null,
            },
      history,
      products: products.map(productLine),
      websites: websites.map(websiteLine),
      pages,
      faqs,
      question: message.content,
    };
  },
});

/** confidence_score desc, NULLS LAST. */
function compareConfidence(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return b - a;
}

/** Byte order of UTF-8 text, as `COLLATE "C"` compares (uuids in lowercase hex sort the same way). */
function compareText(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
