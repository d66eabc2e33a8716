/**
 * The deterministic dataset generator (docs/design.md §2). `planDataset` decides every count up
 * front (cheaply) and returns one lazy row stream per table, in load order: rows are built
 * while they are written, so even the `large` scale never sits in memory at once. The same
 * seed, scale and fixtures give byte-identical rows on every machine.
 */
import { UsageError } from '../../core/errors.js';
import type { ConversationFixture } from '../fixtures.js';
import { pageRow, promptRow, tenantFaqs, tenantProducts, tenantWebsites, userRow, type TenantWebsites } from './catalog.js';
import {
  conversationMessages,
  conversationRow,
  conversationTimeline,
  customerRow,
  fixtureCustomerRow,
  idKeys,
  planConversations,
  type ConversationHeader,
} from './conversations.js';
import { IdPermutation } from './ids.js';
import { buildRoster, type TenantProfile } from './roster.js';
import type { ScaleSpec } from './scales.js';
import { DATASET_TABLES, TABLE_COLUMNS, type DatasetTable, type Row } from './schema.js';

/** What to generate. */
export interface PlanOptions {
  readonly scale: ScaleSpec;
  /** Any safe integer; the same seed gives the same rows. */
  readonly seed: number;
  /** Hand-written conversations (see loadFixtures); their customers get ids 1..n. */
  readonly fixtures: readonly ConversationFixture[];
}

/** One table's rows, produced lazily in load order. */
export interface TablePlan {
  readonly table: DatasetTable;
  readonly columns: readonly string[];
  /** Exact number of rows `rows()` yields. */
  readonly total: number;
  rows(): Iterable<Row>;
}

/** The whole dataset: the tenant roster and one row stream per table. */
export interface DatasetPlan {
  readonly scale: ScaleSpec;
  readonly seed: number;
  readonly tenants: readonly TenantProfile[];
  /** Every table, parents first. */
  readonly tables: readonly TablePlan[];
  /** The plan of one table. */
  table(name: DatasetTable): TablePlan;
}

/** Checks the options, naming the flag or fixture at fault. */
function validate(options: PlanOptions): void {
  const problems: string[] = [];
  if (!Number.isSafeInteger(options.seed)) problems.push(`--seed: expected a whole number, got ${String(options.seed)}`);
  const seen = new Map<string, string>();
  for (const fixture of options.fixtures) {
    if (fixture.tenant > options.scale.tenants) {
      problems.push(`${fixture.file}: tenant: tenant ${fixture.tenant} does not exist at scale ${options.scale.name} (tenants 1-${options.scale.tenants})`);
    }
    const other = seen.get(fixture.id);
    if (other !== undefined) problems.push(`${fixture.file}: id: duplicate conversation id "${fixture.id}" (also in ${other})`);
    else seen.set(fixture.id, fixture.file);
  }
  if (problems.length > 0) throw new UsageError(problems);
}

/**
 * Plans the dataset for a scale, seed and fixtures.
 *
 * @example
 * const plan = planDataset({ scale: resolveScale('tiny'), seed: 42, fixtures: await loadFixtures() });
 * for (const t of plan.tables) console.log(t.table, t.total);
 * const firstUser = [...plan.table('users').rows()][0];
 * @throws UsageError for a seed that is not a whole number, a fixture naming a tenant the scale
 *   does not have, or duplicate fixture ids.
 */
export function planDataset(options: PlanOptions): DatasetPlan {
  validate(options);
  const { scale, seed } = options;
  const fixtures = options.fixtures.slice();
  const tenants = buildRoster(scale, seed, fixtures.length);
  const headers = planConversations(seed, scale, tenants, fixtures);

  const websites = new Map<number, TenantWebsites>();
  const websitesOf = (tenant: TenantProfile): TenantWebsites => {
    let w = websites.get(tenant.id);
    if (!w) {
      w = tenantWebsites(seed, tenant);
      websites.set(tenant.id, w);
    }
    return w;
  };
  const sum = (f: (t: TenantProfile) => number) => tenants.reduce((acc, t) => acc + f(t), 0);

  const plans: Record<DatasetTable, { total: number; rows: () => Iterable<Row> }> = {
    users: { total: tenants.length, rows: () => tenants.map(userRow) },
    ai_prompts: {
      total: tenants.filter((t) => t.prompt !== 'none').length,
      *rows() {
        for (const tenant of tenants) {
          const row = promptRow(seed, tenant);
          if (row) yield row;
        }
      },
    },
    customers: {
      total: fixtures.length + sum((t) => t.customers),
      *rows() {
        for (let i = 0; i < fixtures.length; i++) yield fixtureCustomerRow(seed, i + 1, fixtures[i]);
        for (const tenant of tenants) {
          for (let k = 0; k < tenant.customers; k++) yield customerRow(seed, tenant.firstCustomerId + k, tenant);
        }
      },
    },
    conversations: {
      total: headers.length,
      *rows() {
        for (const header of headers) yield conversationRow(seed, header, conversationTimeline(seed, header));
      },
    },
    messages: {
      total: headers.reduce((acc, h: ConversationHeader) => acc + h.messageCount, 0),
      *rows() {
        const messageIds = new IdPermutation(idKeys(seed, 'message-ids'));
        for (const header of headers) yield* conversationMessages(seed, header, conversationTimeline(seed, header), messageIds);
      },
    },
    products: {
      total: sum((t) => t.products),
      *rows() {
        for (const tenant of tenants) yield* tenantProducts(seed, tenant);
      },
    },
    website_sources: {
      total: sum((t) => t.pagesPerSource.length),
      *rows() {
        for (const tenant of tenants) yield* websitesOf(tenant).sources;
      },
    },
    website_pages: {
      total: sum((t) => t.pagesPerSource.reduce((a, b) => a + b, 0)),
      *rows() {
        for (const tenant of tenants) {
          const { pages } = websitesOf(tenant);
          for (const page of pages) {
            const siblings = pages.filter((p) => p.source === page.source && p !== page);
            yield pageRow(seed, tenant, page, siblings);
          }
        }
      },
    },
    faqs: {
      total: sum((t) => (t.full ? t.faqs : 0)),
      *rows() {
        for (const tenant of tenants) yield* tenantFaqs(seed, tenant, websitesOf(tenant));
      },
    },
  };

  const tables: TablePlan[] = DATASET_TABLES.map((table) => ({
    table,
    columns: TABLE_COLUMNS[table],
    total: plans[table].total,
    rows: plans[table].rows,
  }));
  return {
    scale,
    seed,
    tenants,
    tables,
    table(name: DatasetTable): TablePlan {
      const found = tables.find((t) => t.table === name);
      if (!found) throw new Error(`unknown dataset table ${name}`);
      return found;
    },
  };
}
