/**
 * EXPLAIN for the statements a strategy sent: the server's plan for each distinct statement
 * shape, and the plan shapes that cost the most as data grows — a sequential scan of a large
 * table, and a filter no index can serve.
 *
 * ctxbench never writes: every EXPLAIN runs inside `BEGIN TRANSACTION READ ONLY … ROLLBACK` on
 * the session's unmeasured `control` connection. Plain EXPLAIN only plans; EXPLAIN ANALYZE
 * (opt-in) executes the statement once more, which is why callers must say so when they use it.
 */
import type { Knex } from 'knex';
import type pg from 'pg';
import type { StatementRecord } from '../types.js';

/** Options of {@link explainStatements}. */
export interface ExplainOptions {
  /**
   * Run `EXPLAIN (ANALYZE, BUFFERS)`: executes every statement again (read-only, rolled back)
   * to report actual time. Off by default.
   */
  analyze?: boolean;
  /** A Seq Scan on a relation estimated at this many rows or more is flagged `seq-scan-large` (default 10 000). */
  largeTableRows?: number;
  /**
   * A filtered Seq Scan is checked for a usable index (`filter-without-index`) only on
   * relations of at least this many estimated rows (default 1 000): below that a scan is as
   * cheap as an index lookup, and advice to add an index would be noise.
   */
  filterTableRows?: number;
}

/** Default of {@link ExplainOptions.largeTableRows}. */
export const DEFAULT_LARGE_TABLE_ROWS = 10_000;
/** Default of {@link ExplainOptions.filterTableRows}. */
export const DEFAULT_FILTER_TABLE_ROWS = 1_000;

/** A plan shape worth a developer's attention. */
export interface ExplainFlag {
  /**
   * `seq-scan-large`: a Seq Scan on a relation of at least `largeTableRows` estimated rows;
   * `filter-without-index`: a Seq Scan whose Filter mentions no column that leads any index of
   * the relation.
   */
  kind: 'seq-scan-large' | 'filter-without-index';
  /** The scanned relation, as the plan names it. */
  relation: string;
  /** The node's Filter expression as the server printed it, or null when it has none. */
  filter: string | null;
  /** The relation's estimated row count (`pg_class.reltuples`, or live tuples when never analysed). */
  estimatedRows: number;
  /** filter-without-index only: the relation's columns the filter mentions. */
  columns?: string[];
  /** One line for a human. */
  message: string;
}

/** The plan of one distinct statement shape. */
export interface ExplainResult {
  /** The statements' shared fingerprint. */
  fingerprint: string;
  /** The SQL that was explained: the first statement with this fingerprint, as sent. */
  sql: string;
  /** The root plan node of the server's JSON plan (`Plan`, with its `Plans` children); null on error. */
  planRoot: unknown;
  /** The root node's estimated total cost (planner units); null on error. */
  totalCost: number | null;
  /** The root node's estimated row count; null on error. */
  planRows: number | null;
  /** analyze only: the server's execution time of the statement, milliseconds. */
  actualMs?: number;
  flags: ExplainFlag[];
  /** Why the statement could not be explained (the server's message); then there is no plan. */
  error?: string;
}

/** One node of a JSON plan, as far as this module reads it. */
interface PlanNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  Schema?: string;
  Filter?: string;
  'Total Cost'?: number;
  'Plan Rows'?: number;
  Plans?: PlanNode[];
}

/** What the catalog says about one scanned relation. */
interface RelationInfo {
  /** Estimated rows, or null when the relation could not be found. */
  estimatedRows: number | null;
  columns: Set<string>;
  /** First column of every index (expression indexes have none). */
  leadingColumns: Set<string>;
}

/**
 * Runs EXPLAIN once per distinct fingerprint of `statements` (the first occurrence's SQL and
 * parameters) on `control`, each in a READ ONLY transaction that is rolled back, and flags
 * plan shapes that grow with the data. Only SELECT and WITH statements are explained; anything
 * else (SET, BEGIN, the tracker's `/* sync *\/`) is skipped. A statement the server refuses to
 * explain (a permission, a missing table, a write under ANALYZE) yields a result with `error`:
 * this function does not throw.
 *
 * @example
 * const session = await openSession(url);
 * const { statements } = await session.measure((db) => naiveStrategy.build(db, turn));
 * const plans = await explainStatements(session.control, statements, { largeTableRows: 100 });
 * for (const plan of plans) for (const flag of plan.flags) console.log(flag.message);
 */
export async function explainStatements(
  control: Knex,
  statements: readonly StatementRecord[],
  options: ExplainOptions = {},
): Promise<ExplainResult[]> {
  const largeTableRows = options.largeTableRows ?? DEFAULT_LARGE_TABLE_ROWS;
  const filterTableRows = options.filterTableRows ?? DEFAULT_FILTER_TABLE_ROWS;
  const explain = options.analyze ? 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' : 'EXPLAIN (FORMAT JSON) ';

  const firsts = new Map<string, StatementRecord>();
  for (const s of statements) {
    if (!firsts.has(s.fingerprint) && isExplainable(s.sql)) firsts.set(s.fingerprint, s);
  }
  if (firsts.size === 0) return [];

  const failed = (s: StatementRecord, error: string): ExplainResult => ({
    fingerprint: s.fingerprint,
    sql: s.sql,
    planRoot: null,
    totalCost: null,
    planRows: null,
    flags: [],
    error,
  });

  let client: pg.Client;
  try {
    // The raw client: EXPLAIN of a `$n` statement needs its parameters bound, which knex's
    // `raw` cannot do with `$n` placeholders; pg sends them as an unnamed prepared statement.
    client = await control.client.acquireConnection();
  } catch (error) {
    return [...firsts.values()].map((s) => failed(s, messageOf(error)));
  }

  // Catalog facts are looked up once per relation, whichever statement scans it first.
  const relations = new Map<string, RelationInfo>();
  const results: ExplainResult[] = [];
  try {
    for (const s of firsts.values()) {
      const binary = s.params.find((p) => p !== null && /^<binary \d+ bytes>$/.test(p));
      if (binary !== undefined) {
        results.push(failed(s, `cannot re-send a binary parameter (${binary}): the recorder keeps only text parameters`));
        continue;
      }
      // One transaction per statement: an error aborts only that statement's transaction.
      let began = false;
      try {
        await client.query('BEGIN TRANSACTION READ ONLY');
        began = true;
        const result = await client.query(explain + s.sql, s.params.length === 0 ? undefined : [...s.params]);
        const output = parsePlanOutput(result.rows[0]?.['QUERY PLAN']);
        const root = output.Plan ?? null;
        const flags: ExplainFlag[] = [];
        for (const node of scanNodes(root)) {
          const name = node['Relation Name'];
          if (name === undefined) continue;
          const key = node.Schema === undefined ? quoteIdent(name) : `${quoteIdent(node.Schema)}.${quoteIdent(name)}`;
          let info = relations.get(key);
          if (info === undefined) {
            // The plan is what was asked for: a catalog that cannot be read costs the flags only.
            info = await relationInfo(client, key).catch(() => UNKNOWN_RELATION);
            relations.set(key, info);
          }
          flags.push(...flagsFor(node, name, info, largeTableRows, filterTableRows));
        }
        const explained: ExplainResult = {
          fingerprint: s.fingerprint,
          sql: s.sql,
          planRoot: root,
          totalCost: numberOrNull(root?.['Total Cost']),
          planRows: numberOrNull(root?.['Plan Rows']),
          flags,
        };
        if (options.analyze) {
          const ms = numberOrNull(output['Execution Time']);
          if (ms !== null) explained.actualMs = ms;
        }
        results.push(explained);
      } catch (error) {
        results.push(failed(s, messageOf(error)));
      } finally {
        // Never COMMIT: whatever the statement did (it cannot write in a READ ONLY
        // transaction) goes away with the transaction.
        if (began) await client.query('ROLLBACK').catch(() => undefined);
      }
    }
  } finally {
    await control.client.releaseConnection(client);
  }
  return results;
}

/**
 * Whether a statement is a query EXPLAIN can plan without side effects: SELECT or WITH, after
 * any leading comments and parentheses.
 *
 * @example
 * isExplainable('/* app *\/ (select 1)'); // => true
 * isExplainable('set work_mem = 1'); // => false
 */
export function isExplainable(sql: string): boolean {
  let rest = sql;
  for (;;) {
    const trimmed = rest.replace(/^[\s(]+/, '');
    if (trimmed.startsWith('--')) {
      const end = trimmed.indexOf('\n');
      rest = end === -1 ? '' : trimmed.slice(end + 1);
    } else if (trimmed.startsWith('/*')) {
      const end = trimmed.indexOf('*/');
      rest = end === -1 ? '' : trimmed.slice(end + 2);
    } else {
      return /^(?:select|with)\b/i.test(trimmed);
    }
  }
}

/**
 * The column names a plan's Filter text mentions, among `columns`: identifiers outside string
 * literals and after no `::` (a type), qualified names split into their parts. Comparing with
 * the relation's real columns is what tells a column from a keyword or a function name.
 *
 * @example
 * filterColumns(`(is_approved AND (user_id = '2'::bigint))`, new Set(['id', 'user_id', 'is_approved']));
 * // => ['is_approved', 'user_id']
 */
export function filterColumns(filter: string, columns: ReadonlySet<string>): string[] {
  const withoutLiterals = filter.replace(/'(?:[^']|'')*'/g, "''");
  const found = new Set<string>();
  const identifier = /(::\s*)?(?:"((?:[^"]|"")+)"|([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*))/g;
  for (const m of withoutLiterals.matchAll(identifier)) {
    if (m[1] !== undefined) continue;
    // Unquoted identifiers are folded to lower case by the server; quoted ones are exact.
    const name = m[2] !== undefined ? m[2].replace(/""/g, '"') : m[3].toLowerCase();
    if (columns.has(name)) found.add(name);
  }
  return [...found];
}

/** Every Seq Scan node of the plan tree, depth first. */
function scanNodes(root: PlanNode | null): PlanNode[] {
  const out: PlanNode[] = [];
  const walk = (node: PlanNode): void => {
    if (node['Node Type'] === 'Seq Scan') out.push(node);
    for (const child of node.Plans ?? []) walk(child);
  };
  if (root !== null) walk(root);
  return out;
}

function flagsFor(
  node: PlanNode,
  relation: string,
  info: RelationInfo,
  largeTableRows: number,
  filterTableRows: number,
): ExplainFlag[] {
  const rows = info.estimatedRows;
  if (rows === null) return [];
  const filter = node.Filter ?? null;
  const about = `Seq Scan on ${relation} (≈ ${formatCount(rows)} rows)`;
  const flags: ExplainFlag[] = [];
  if (rows >= largeTableRows) {
    flags.push({
      kind: 'seq-scan-large',
      relation,
      filter,
      estimatedRows: rows,
      message:
        filter === null
          ? `${about} reads the whole table on every call`
          : `${about} filtered by ${filter}: reads the whole table on every call`,
    });
  }
  if (filter !== null && rows >= filterTableRows) {
    const columns = filterColumns(filter, info.columns);
    if (!columns.some((c) => info.leadingColumns.has(c))) {
      const which = columns.length === 0 ? 'of its columns' : columns.join(' or ');
      flags.push({
        kind: 'filter-without-index',
        relation,
        filter,
        estimatedRows: rows,
        columns,
        message:
          columns.length === 0
            ? `${about} filtered by ${filter}: the filter names no column an index could serve`
            : `${about} filtered by ${filter}: no index starts with ${which}`,
      });
    }
  }
  return flags;
}

/** What is known of a relation the catalog lookup could not find or read: nothing, so no flags. */
const UNKNOWN_RELATION: RelationInfo = { estimatedRows: null, columns: new Set(), leadingColumns: new Set() };

/** Row estimate, columns and indexes' leading columns of the relation `name` (quoted, maybe schema-qualified). */
async function relationInfo(client: pg.Client, name: string): Promise<RelationInfo> {
  const { rows } = await client.query(
    `select c.reltuples::float8 as reltuples, s.n_live_tup::float8 as live,
            array(select a.attname::text from pg_attribute a
                   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
            array(select distinct a.attname::text from pg_index i
                    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                   where i.indrelid = c.oid and i.indisvalid) as leading
       from pg_class c left join pg_stat_all_tables s on s.relid = c.oid
      where c.oid = to_regclass($1)`,
    [name],
  );
  const row = rows[0] as { reltuples: number; live: number | null; columns: string[]; leading: string[] } | undefined;
  if (row === undefined) return UNKNOWN_RELATION;
  // reltuples is -1 until the table is first vacuumed or analysed (PostgreSQL 14+); the
  // statistics' live-tuple count is the best estimate then.
  const estimated = row.reltuples >= 0 ? row.reltuples : row.live;
  return {
    estimatedRows: estimated === null ? null : Math.round(estimated),
    columns: new Set(row.columns),
    leadingColumns: new Set(row.leading),
  };
}

/** The one element of EXPLAIN (FORMAT JSON) output: pg parses the json column, but accept text too. */
function parsePlanOutput(value: unknown): { Plan?: PlanNode; 'Execution Time'?: number } {
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  const first: unknown = Array.isArray(parsed) ? parsed[0] : parsed;
  if (first === null || typeof first !== 'object') throw new Error('EXPLAIN returned no JSON plan');
  return first as { Plan?: PlanNode; 'Execution Time'?: number };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
