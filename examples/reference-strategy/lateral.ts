/**
 * lateral — a user strategy on ctxbench's reference schema: the same prompt as `naive`, in
 * exactly 4 statements per turn whatever the data: the conversation with its tenant, prompt,
 * customer and history (a LATERAL json_agg); products; websites with their pages (ranked by
 * row_number() per website); FAQs ranked in SQL. Raw SQL through `db.query`, each statement
 * labelled with `db.section` so the report breaks the figures down by section.
 *
 * Run: npx ctxbench compare --strategies naive,optimized,./examples/reference-strategy/lateral.ts
 */
import { defineStrategy, messageTokens, speakerFor } from 'ctxbench';
import type { PageLine, PromptContext, WebsiteLine } from 'ctxbench';

// How many of each the prompt takes (docs/design.md §3).
const HISTORY_MESSAGES = 6;
const PRODUCTS = 6;
const WEBSITES = 2;
const PAGES_PER_WEBSITE = 5;
const FAQS = 8;
const EXCERPT_CODE_POINTS = 600; // left() counts code points, as the prompt must

type Row = Record<string, any>;

/**
 * SYSTEM, CUSTOMER, QUESTION and HISTORY in one row. The history is "as of M": messages of
 * M's conversation before M in (created_at, id) order, compared against M's own row in SQL
 * (never through a JavaScript Date, which would drop microseconds). json_agg keeps the six
 * newest, oldest first; an empty history aggregates to NULL, hence the coalesce.
 */
const CONVERSATION_SQL = `
select m.content as question,
       c.user_id, c.source,
       u.id as u_id, u.business_name,
       ap.manual_prompt, ap.auto_prompt, ap.tone,
       cu.id as cu_id, cu.first_name, cu.last_name, cu.phone_number,
       h.history
from messages m
join conversations c on c.id = m.conversation_id
left join users u on u.id = c.user_id
left join ai_prompts ap on ap.user_id = c.user_id
left join customers cu on cu.id = c.customer_id
cross join lateral (
  select coalesce(json_agg(json_build_object('type', r.type, 'firstName', r.first_name, 'content', r.content)
                           order by r.created_at, r.id collate "C"), '[]') as history
  from (
    select hm.type, hm.content, hm.created_at, hm.id, hc.first_name
    from messages hm
    left join customers hc on hc.id = hm.customer_id
    where hm.conversation_id = m.conversation_id
      and (hm.created_at, hm.id collate "C") < (m.created_at, m.id collate "C")
    order by hm.created_at desc, hm.id collate "C" desc
    limit ${HISTORY_MESSAGES}
  ) r
) h
where m.id = $1`;

/** The tenant's newest active products. price::text keeps the database's decimal text ("19.90"). */
const PRODUCTS_SQL = `
select title, product_type, description, price::text as price, link, tags
from products
where user_id = $1 and is_active = true
order by updated_at desc, id asc
limit ${PRODUCTS}`;

/**
 * The tenant's 2 newest website sources, one row each, with their 5 newest completed pages
 * as a JSON array: row_number() ranks each source's completed pages in one pass. Only the
 * excerpt of cleaned_content crosses the wire, never raw_content, and a source's name, url
 * and description travel once, not once per page.
 */
const WEBSITES_SQL = `
with w as (
  select id, name, url, description, updated_at
  from website_sources
  where user_id = $1
  order by updated_at desc, id asc
  limit ${WEBSITES}
), p as (
  select website_id, title, url, summary, left(cleaned_content, ${EXCERPT_CODE_POINTS}) as excerpt,
         row_number() over (partition by website_id order by updated_at desc, id asc) as page_rank
  from website_pages
  where website_id in (select id from w) and processing_status = 'completed'
)
select w.name, w.url, w.description,
       coalesce((select json_agg(json_build_object('title', p.title, 'url', p.url, 'summary', p.summary, 'excerpt', p.excerpt)
                                 order by p.page_rank)
                 from p
                 where p.website_id = w.id and p.page_rank <= ${PAGES_PER_WEBSITE}), '[]') as pages
from w
order by w.updated_at desc, w.id asc`;

/**
 * The tenant's 8 best approved FAQs for M: score = how many of M's distinct tokens are string
 * elements of the keywords array (jsonb `?`; $2 is `messageTokens(M)`), then confidence
 * (NULLS LAST), then id. uuids compare as bytes, like COLLATE "C" text.
 */
const FAQS_SQL = `
select f.question, f.answer
from faqs f
where f.user_id = $1 and f.is_approved = true
order by (select count(*) from unnest($2::text[]) as t(token)
          where jsonb_typeof(f.keywords) = 'array' and f.keywords ? t.token) desc,
         f.confidence_score desc nulls last,
         f.id asc
limit ${FAQS}`;

export default defineStrategy({
  name: 'lateral',
  description: '4 statements: conversation + LATERAL history, products, websites + pages (window), FAQs ranked in SQL',
  async build(db, turn): Promise<PromptContext> {
    const head: Row | undefined = await db.section(
      'conversation',
      async () => (await db.query<Row>(CONVERSATION_SQL, [turn.messageId])).rows[0],
    );
    if (head === undefined) throw new Error(`message ${turn.messageId} not found`);
    const tenant = head.user_id as string;

    const products = await db.section('products', async () => (await db.query<Row>(PRODUCTS_SQL, [tenant])).rows);

    const sites = await db.section('websites', async () => (await db.query<Row>(WEBSITES_SQL, [tenant])).rows);
    const websites: WebsiteLine[] = sites.map((w) => ({ name: w.name, url: w.url, description: w.description }));
    // Each page line names its website (page -> website), from the row it came with.
    const pages: PageLine[] = sites.flatMap((w) =>
      (w.pages as Row[]).map((p) => ({ website: w.name, title: p.title, url: p.url, summary: p.summary, excerpt: p.excerpt })),
    );

    const faqs = await db.section(
      'faqs',
      async () => (await db.query<Row>(FAQS_SQL, [tenant, messageTokens(head.question)])).rows,
    );

    return {
      system:
        head.u_id === null
          ? null
          : { businessName: head.business_name, manualPrompt: head.manual_prompt, autoPrompt: head.auto_prompt, tone: head.tone },
      customer:
        head.cu_id === null
          ? null
          : { firstName: head.first_name, lastName: head.last_name, phoneNumber: head.phone_number, source: head.source },
      history: (head.history as Row[]).map((h) => ({ speaker: speakerFor(h.type, h.firstName), content: h.content })),
      products: products.map((p) => ({
        title: p.title,
        productType: p.product_type,
        description: p.description,
        price: p.price,
        link: p.link,
        tags: Array.isArray(p.tags) ? p.tags.map(String) : [],
      })),
      websites,
      pages,
      faqs: faqs.map((f) => ({ question: f.question, answer: f.answer })),
      question: head.question,
    };
  },
});
