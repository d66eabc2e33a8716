/**
 * optimized — the seed's "after", as it was meant to work: joins instead of the N+1 reads and
 * only the columns the prompt uses; the page excerpt is cut and the FAQs ranked in SQL, so
 * neither raw HTML nor every FAQ of the tenant crosses the wire.
 */
import { productLine, websiteLine } from './reference-rows.js';
import { REFERENCE_SCHEMA } from '../schema-check.js';
import { messageTokens, PAGE_EXCERPT_CODE_POINTS, speakerFor } from '../render/prompt-renderer.js';
import type { PageLine, PromptContext, Strategy } from '../types.js';
import { defineStrategy } from './define-strategy.js';
import { FAQS, HISTORY_MESSAGES, PAGES_PER_WEBSITE, PRODUCTS, WEBSITES } from './naive-strategy.js';

type Row = Record<string, any>;

/**
 * The optimized strategy.
 *
 * @example
 * const report = await compare({ strategies: [naiveStrategy, optimizedStrategy] });
 */
export const optimizedStrategy: Strategy = defineStrategy({
  name: 'optimized',
  requires: REFERENCE_SCHEMA,
  description: 'The seed\'s "after" done right: joins, only the columns the prompt uses',
  async build({ knex, section }, turn): Promise<PromptContext> {
    // One statement carries SYSTEM, CUSTOMER and QUESTION; it is labelled with the first.
    const head: Row | undefined = await section('system', () =>
      knex('messages as m')
        .join('conversations as c', 'c.id', 'm.conversation_id')
        .leftJoin('users as u', 'u.id', 'c.user_id')
        .leftJoin('ai_prompts as ap', 'ap.user_id', 'c.user_id')
        .leftJoin('customers as cu', 'cu.id', 'c.customer_id')
        .where('m.id', turn.messageId)
        .first(
          'm.content',
          'c.user_id',
          'c.source',
          'u.id as u_id',
          'u.business_name',
          'ap.manual_prompt',
          'ap.auto_prompt',
          'ap.tone',
          'cu.id as cu_id',
          'cu.first_name',
          'cu.last_name',
          'cu.phone_number',
        ),
    );
    if (head === undefined) throw new Error(`message ${turn.messageId} not found`);

    const recent: Row[] = await section('history', () =>
      knex('messages as m')
        .leftJoin('customers as cu', 'cu.id', 'm.customer_id')
        .where('m.conversation_id', turn.conversationId)
        .whereRaw('(m.created_at, m.id collate "C") < (select x.created_at, x.id collate "C" from messages x where x.id = ?)', [
          turn.messageId,
        ])
        .orderByRaw('m.created_at desc, m.id collate "C" desc')
        .limit(HISTORY_MESSAGES)
        .select('m.type', 'm.content', 'cu.first_name'),
    );

    const userId = head.user_id;
    const products: Row[] = await section('products', () =>
      knex('products')
        .where({ user_id: userId, is_active: true })
        .orderBy([
          { column: 'updated_at', order: 'desc' },
          { column: 'id', order: 'asc' },
        ])
        .limit(PRODUCTS)
        .select('title', 'product_type', 'description', 'price', 'link', 'tags'),
    );

    const { websites, pages } = await section('websites', async () => {
      const websites: Row[] = await knex('website_sources')
        .where({ user_id: userId })
        .orderBy([
          { column: 'updated_at', order: 'desc' },
          { column: 'id', order: 'asc' },
        ])
        .limit(WEBSITES)
        .select('id', 'name', 'url', 'description');
      const pages: PageLine[] = [];
      for (const site of websites) {
        const sitePages: Row[] = await knex('website_pages')
          .where({ website_id: site.id, processing_status: 'completed' })
          .orderBy([
            { column: 'updated_at', order: 'desc' },
            { column: 'id', order: 'asc' },
          ])
          .limit(PAGES_PER_WEBSITE)
          .select('title', 'url', 'summary', knex.raw('left(cleaned_content, ?) as excerpt', [PAGE_EXCERPT_CODE_POINTS]));
        for (const p of sitePages) {
          pages.push({ website: site.name, title: p.title, url: p.url, summary: p.summary, excerpt: p.excerpt });
        }
      }
      return { websites, pages };
    });

    const faqs: Row[] = await section('faqs', () =>
      knex('faqs as f')
        .where({ 'f.user_id': userId, 'f.is_approved': true })
        .orderByRaw(
          '(select count(*) from unnest(?::text[]) as t(token) where f.keywords @> jsonb_build_array(t.token)) desc, f.confidence_score desc nulls last, f.id asc',
          [messageTokens(head.content)],
        )
        .limit(FAQS)
        .select('f.question', 'f.answer'),
    );

    return {
      system:
        head.u_id == null
          ? null
          : { businessName: head.business_name, manualPrompt: head.manual_prompt, autoPrompt: head.auto_prompt, tone: head.tone },
      customer:
        head.cu_id == null
          ? null
          : { firstName: head.first_name, lastName: head.last_name, phoneNumber: head.phone_number, source: head.source },
      history: recent.reverse().map((m) => ({ speaker: speakerFor(m.type, m.first_name), content: m.content })),
      products: products.map(productLine),
      websites: websites.map(websiteLine),
      pages,
      faqs: faqs.map((f) => ({ question: f.question, answer: f.answer })),
      question: head.content,
    };
  },
});
