/**
 * Raw crawled HTML for `website_pages.raw_content`: a realistic page (head with meta tags,
 * inline CSS and tracking scripts, navigation, the article, product cards, footer) padded
 * with product cards to a target UTF-8 size between 10 and 60 KB. This is the column that
 * `SELECT *` drags along, so its size is what the naive strategy pays for.
 */
import type { Rng } from './prng.js';
import type { Lang } from './lexicon.js';
import { utf8Bytes } from './text.js';

/** Smallest and largest raw page, in UTF-8 bytes (10 KiB .. 60 kB, inside either reading of "KB"). */
export const RAW_MIN_BYTES = 10 * 1024;
export const RAW_MAX_BYTES = 60_000;

/** One section of the article: a heading and its paragraphs. */
export interface PageSection {
  heading: string;
  paragraphs: string[];
}

/** What the page shows. */
export interface PageSpec {
  lang: Lang;
  title: string;
  description: string | null;
  keywords: string | null;
  business: string;
  origin: string;
  nav: readonly string[];
  sections: readonly PageSection[];
  /** Product card titles and prices, repeated as padding. */
  cards: readonly { title: string; price: string; href: string }[];
  links: readonly string[];
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}
const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

const CSS = `:root{--brand:#1f6feb;--ink:#1b1f24;--muted:#6b7280;--radius:12px}
*{box-sizing:border-box}body{margin:0;font-family:Vazirmatn,Inter,system-ui,sans-serif;color:var(--ink);line-height:1.7}
.container{max-width:1200px;margin:0 auto;padding:0 16px}.site-header{position:sticky;top:0;background:#fff;box-shadow:0 1px 4px rgba(0,0,0,.08);z-index:10}
.nav__list{display:flex;gap:24px;list-style:none;margin:0;padding:12px 0}.nav__link{color:var(--ink);text-decoration:none;font-weight:500}
.product-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:20px;margin:32px 0}
.card{border:1px solid #e5e7eb;border-radius:var(--radius);overflow:hidden;transition:transform .2s}.card:hover{transform:translateY(-2px)}
.card__img{aspect-ratio:1/1;object-fit:cover;width:100%}.card__body{padding:12px}.card__price{color:var(--brand);font-weight:700}
.site-footer{background:#111827;color:#d1d5db;padding:40px 0;margin-top:64px}.site-footer a{color:#d1d5db}
@media (max-width:768px){.nav__list{overflow-x:auto}.product-grid{grid-template-columns:repeat(2,1fr)}}`;

/**
 * Builds the page, then appends product cards until it reaches `targetBytes` (clamped to
 * [RAW_MIN_BYTES, RAW_MAX_BYTES - 3000] so the footer never pushes it past the maximum).
 */
export function buildRawHtml(spec: PageSpec, rng: Rng, targetBytes: number): string {
  const target = Math.min(Math.max(targetBytes, RAW_MIN_BYTES), RAW_MAX_BYTES - 3000);
  const dir = spec.lang === 'fa' || spec.lang === 'ar' ? 'rtl' : 'ltr';
  const buildId = rng.next().toString(16).padStart(8, '0');
  const gaId = `G-${(rng.next() % 0xfffffff).toString(36).toUpperCase()}`;
  const head: string[] = [
    '<!DOCTYPE html>',
    `<html lang="${spec.lang}" dir="${dir}">`,
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(spec.title)}</title>`,
  ];
  if (spec.description !== null) head.push(`<meta name="description" content="${escapeHtml(spec.description)}">`);
  if (spec.keywords !== null) head.push(`<meta name="keywords" content="${escapeHtml(spec.keywords)}">`);
  head.push(
    `<meta property="og:title" content="${escapeHtml(spec.title)}">`,
    `<meta property="og:site_name" content="${escapeHtml(spec.business)}">`,
    `<link rel="canonical" href="${spec.origin}/">`,
    `<link rel="stylesheet" href="${spec.origin}/static/css/main.${buildId}.css">`,
    `<link rel="preload" href="${spec.origin}/static/fonts/vazirmatn.woff2" as="font" crossorigin>`,
    `<style>${CSS}</style>`,
    `<script type="application/ld+json">${JSON.stringify({
      '@context': 'https://schema.org',
      '@type': 'Organization',
      name: spec.business,
      url: spec.origin,
      logo: `${spec.origin}/static/img/logo.png`,
      sameAs: [`https://instagram.com/${buildId}`, `https://t.me/${buildId}`],
    })}</script>`,
    `<script async src="https://www.googletagmanager.com/gtag/js?id=${gaId}"></script>`,
    `<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}gtag('js',new Date());gtag('config','${gaId}',{anonymize_ip:true});</script>`,
    '</head>',
    `<body class="page page-${buildId}">`,
    '<header class="site-header"><div class="container"><nav class="nav" aria-label="main"><ul class="nav__list">',
  );
  for (const item of spec.nav) {
    head.push(`<li class="nav__item"><a class="nav__link" href="${spec.origin}/${encodeURIComponent(item)}">${escapeHtml(item)}</a></li>`);
  }
  head.push('</ul></nav></div></header>', '<main class="container">', `<h1 class="page-title">${escapeHtml(spec.title)}</h1>`);
  for (const section of spec.sections) {
    head.push(`<section class="content-block"><h2>${escapeHtml(section.heading)}</h2>`);
    for (const p of section.paragraphs) head.push(`<p>${escapeHtml(p)}</p>`);
    head.push('</section>');
  }
  head.push('<div class="product-grid">');

  let html = head.join('\n');
  let bytes = utf8Bytes(html);
  let i = 0;
  while (bytes < target && spec.cards.length > 0) {
    const card = spec.cards[i % spec.cards.length];
    const sku = rng.next().toString(36);
    const block =
      `\n<article class="card" data-sku="${sku}" data-position="${i}">` +
      `<a href="${card.href}?utm_source=site&amp;utm_medium=grid&amp;pos=${i}">` +
      `<img class="card__img" loading="lazy" src="${spec.origin}/media/products/${sku}_600x600.webp" srcset="${spec.origin}/media/products/${sku}_300x300.webp 300w, ${spec.origin}/media/products/${sku}_600x600.webp 600w" alt="${escapeHtml(card.title)}">` +
      `<div class="card__body"><h3 class="card__title">${escapeHtml(card.title)}</h3>` +
      `<span class="card__price">${escapeHtml(card.price)}</span>` +
      `<button class="btn btn--primary" data-action="add-to-cart" data-sku="${sku}">+</button></div></a></article>`;
    html += block;
    bytes += utf8Bytes(block);
    i++;
  }

  const footer: string[] = ['\n</div>', '</main>', '<footer class="site-footer"><div class="container"><ul class="footer__links">'];
  for (const link of spec.links.slice(0, 5)) {
    footer.push(`<li><a href="${escapeHtml(link)}">${escapeHtml(link.slice(spec.origin.length, spec.origin.length + 40) || '/')}</a></li>`);
  }
  footer.push(
    `</ul><p class="copyright">© ${escapeHtml(spec.business)}</p></div></footer>`,
    `<script src="${spec.origin}/static/js/runtime.${buildId}.js" defer></script>`,
    `<script src="${spec.origin}/static/js/main.${buildId}.js" defer></script>`,
    '</body>',
    '</html>',
  );
  return html + footer.join('\n');
}
