/**
 * Rows of the reference schema as the prompt's lines: the mapping every built-in strategy
 * shares, so they can only differ in how they fetch.
 */
import type { ProductLine, WebsiteLine } from '../types.js';

type Row = Record<string, any>;

/** A `products` row (title, product_type, description, price as text, link, tags jsonb). */
export function productLine(p: Row): ProductLine {
  return {
    title: p.title,
    productType: p.product_type,
    description: p.description,
    price: p.price,
    link: p.link,
    tags: Array.isArray(p.tags) ? p.tags.map(String) : [],
  };
}

/** A `website_sources` row. */
export function websiteLine(w: Row): WebsiteLine {
  return { name: w.name, url: w.url, description: w.description };
}
