/**
 * What-if: the fix of a finding, measured rather than predicted (issue #15, item 3). For an
 * N+1 group whose statements differ only in the one parameter of a `col = $n`, the batched
 * rewrite `col = ANY($n)` with the group's values; for a `SELECT *` whose prompt leaves
 * columns unused, the same statement with only the used columns. Each rewrite runs once per
 * turn, after the warm-up build, inside its read-only transaction, recorded apart from the
 * turn (docs/design.md §1: profiling never writes; §5: the turn's figures are its own).
 *
 * Whether a statement can be rewritten is decided on PostgreSQL's parse tree, and the rewrite
 * is spliced into the statement's own text at the positions the parser and scanner report —
 * never guessed with a regular expression. Whatever does not fit the few shapes below is named
 * "not rewritable" with the reason. A rewrite is reported as a fix only when it returned the
 * same rows (as a multiset of field values) as the statements it replaces.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { FindingFix, FixFigures, Finding } from '../../report/model.js';
import type { AfterCall } from '../session.js';
import { statementValues } from '../recorder.js';
import type { StatementRecord } from '../types.js';
import { dataRowValues } from '../wire/statement-tracker.js';
import { columnUsage, type CapturedStatement } from './column-usage.js';
import { fingerprintSql } from './fingerprint.js';
import { selectsStar } from './findings.js';

type Node = Record<string, any>;
type LibPgQuery = typeof import('libpg-query');

let loaded: Promise<LibPgQuery> | null = null;

/** The parser and scanner (the same WebAssembly module fingerprints load). */
function libpgQuery(): Promise<LibPgQuery> {
  loaded ??= (async () => {
    const module = await import('libpg-query');
    await module.loadModule();
    return module;
  })();
  return loaded;
}

/** What the catalog says about a table, for the rewrites that depend on its keys. */
export interface TableInfo {
  /** Columns in order, with whether they are NOT NULL. */
  columns: { name: string; notNull: boolean }[];
  /** Key columns of each valid, non-partial, plain-column unique index (the primary key included). */
  uniqueKeys: string[][];
}

/** Reads {@link TableInfo}; null when the table is not found. */
export type CatalogLookup = (schema: string | null, table: string) => Promise<TableInfo | null>;

/** A planned rewrite: the SQL and the parameter lists to run it with (one statement each). */
export type RewritePlan = { ok: true; sql: string; runs: unknown[][] } | { ok: false; reason: string };

/** A statement of a group, as sent. */
export interface SentStatement {
  sql: string;
  params: readonly (string | null)[];
}

/** Double-quotes an identifier as PostgreSQL reads it back. */
function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Every ParamRef of a parse tree, with its number and byte position. */
function paramRefs(node: unknown, out: { number: number; location: number }[] = []): { number: number; location: number }[] {
  if (Array.isArray(node)) for (const n of node) paramRefs(n, out);
  else if (node !== null && typeof node === 'object') {
    const ref = (node as Node).ParamRef;
    if (ref !== undefined) out.push({ number: ref.number ?? 0, location: ref.location ?? -1 });
    else for (const v of Object.values(node)) paramRefs(v, out);
  }
  return out;
}

/** A statement parsed and scanned, with byte-exact splicing. */
class Source {
  readonly bytes: Buffer;
  readonly tokens: { start: number; end: number; text: string; tokenName: string; keywordKind: number; depth: number }[];
  /** Byte ranges replaced by text, applied by {@link text}. */
  private readonly edits: { start: number; end: number; text: string }[] = [];

  constructor(sql: string, scan: LibPgQuery['scanSync']) {
    this.bytes = Buffer.from(sql, 'utf8');
    let depth = 0;
    this.tokens = scan(sql).tokens.map((t) => {
      if (t.text === ')') depth -= 1;
      const token = { ...t, depth };
      if (t.text === '(') depth += 1;
      return token;
    });
  }

  /** The first keyword `word` at parenthesis depth 0, at or after byte `from`. */
  keyword(word: string, from = 0): { start: number; end: number } | undefined {
    return this.tokens.find((t) => t.depth === 0 && t.start >= from && t.keywordKind !== 0 && t.text.toLowerCase() === word);
  }

  tokenAt(start: number): { start: number; end: number; text: string } | undefined {
    return this.tokens.find((t) => t.start === start);
  }

  /** End of the statement (before a trailing semicolon). */
  get end(): number {
    const last = this.tokens.filter((t) => t.text !== ';').at(-1);
    return last?.end ?? this.bytes.length;
  }

  replace(start: number, end: number, text: string): void {
    this.edits.push({ start, end, text });
  }

  /** The text of bytes [start, end) with the edits inside it applied. */
  text(start: number, end: number): string {
    const edits = this.edits.filter((e) => e.start >= start && e.end <= end).sort((a, b) => a.start - b.start);
    let out = '';
    let at = start;
    for (const e of edits) {
      out += this.bytes.toString('utf8', at, e.start) + e.text;
      at = e.end;
    }
    return out + this.bytes.toString('utf8', at, end);
  }
}

/** The one SELECT of a statement when it is a plain single-table read; else why not. */
/** The statement's parse tree and its one plain SELECT, or why it has none (the parser rejects it, or {@link plainSelect}'s reason). */
async function parsePlainSelect(sql: string): Promise<{ tree: Node; plain: { select: Node; table: Node } } | string> {
  const pg = await libpgQuery();
  let tree: Node;
  try {
    tree = pg.parseSync(sql) as Node;
  } catch {
    return 'the parser rejects it';
  }
  const plain = plainSelect(tree);
  return typeof plain === 'string' ? plain : { tree, plain };
}

function plainSelect(tree: Node): { select: Node; table: Node } | string {
  if (tree.stmts?.length !== 1) return 'it is not exactly one statement';
  const select = tree.stmts[0].stmt?.SelectStmt as Node | undefined;
  if (select === undefined) return 'it is not a SELECT';
  if (select.op !== undefined && select.op !== 'SETOP_NONE') return 'it is a UNION, INTERSECT or EXCEPT';
  const clauses: [string, string][] = [
    ['withClause', 'WITH'],
    ['distinctClause', 'DISTINCT'],
    ['groupClause', 'GROUP BY'],
    ['havingClause', 'HAVING'],
    ['windowClause', 'WINDOW'],
    ['lockingClause', 'FOR UPDATE/SHARE'],
    ['intoClause', 'INTO'],
    ['valuesLists', 'VALUES'],
    ['limitOffset', 'OFFSET'],
  ];
  for (const [key, name] of clauses) if (select[key] !== undefined) return `it has ${name}`;
  if (select.limitOption === 'LIMIT_OPTION_WITH_TIES') return 'it has FETCH … WITH TIES';
  const from = select.fromClause as Node[] | undefined;
  if (from === undefined || from.length !== 1 || from[0]!.RangeVar === undefined)
    return 'it reads more than one table (or a join or subquery)';
  return { select, table: from[0]!.RangeVar };
}

/** The column a ColumnRef names when it is a plain column of `table` (optionally qualified by its name or alias). */
function plainColumn(node: Node | undefined, table: Node): string | null {
  const fields = node?.ColumnRef?.fields as Node[] | undefined;
  if (fields === undefined || fields.some((f) => f.String === undefined)) return null;
  const names = fields.map((f) => f.String.sval as string);
  if (names.length === 1) return names[0]!;
  const qualifier = table.alias?.aliasname ?? table.relname;
  return names.length === 2 && names[0] === qualifier ? names[1]! : null;
}

/** The conjuncts of a WHERE clause (a top-level AND flattened). */
function conjuncts(where: Node | undefined): Node[] {
  if (where === undefined) return [];
  if (where.BoolExpr?.boolop === 'AND_EXPR') return (where.BoolExpr.args as Node[]).flatMap((a) => conjuncts(a));
  return [where];
}

/** An integer constant's value, or null. */
function intConstant(node: Node | undefined): number | null {
  const c = node?.A_Const;
  if (c === undefined || c.ival === undefined) return null;
  return Number(c.ival.ival ?? 0);
}

/** Output names of a select list over `table`, expanding `*` from the catalog; or why not. */
function outputNames(select: Node, table: Node, info: TableInfo): string[] | string {
  const names: string[] = [];
  for (const item of select.targetList as Node[]) {
    const target = item.ResTarget as Node;
    const fields = target.val?.ColumnRef?.fields as Node[] | undefined;
    if (fields?.at(-1)?.A_Star !== undefined) {
      if ((select.targetList as Node[]).length !== 1) return 'its select list mixes * with other items';
      return info.columns.map((c) => c.name);
    }
    const name = (target.name as string | undefined) ?? plainColumn(target.val, table);
    if (name === null) return 'a select-list item has no name of its own';
    names.push(name);
  }
  return new Set(names).size === names.length ? names : 'two select-list items have the same name';
}

/**
 * Plans the batched rewrite of an N+1 group: its statements differ only in the value of the
 * one parameter of a `col = $n` conjunct of the WHERE clause. No LIMIT: `col = ANY($n)`.
 * LIMIT 1 on a column with a single-column unique index: the LIMIT is dropped. Any other
 * LIMIT (k per group): a `row_number() over (partition by col order by …)` rewrite when the
 * ORDER BY decides ties (a unique, not-null key among its columns), else not rewritable.
 *
 * @example
 * const plan = await planBatchedRewrite(
 *   [{ sql: 'select * from t where id = $1 limit $2', params: ['1', '1'] }, { sql: 'select * from t where id = $1 limit $2', params: ['2', '1'] }],
 *   catalog,
 * );
 * // plan.ok && plan.sql === 'select * from t where id = ANY($1)', plan.runs === [[['1', '2']]]
 */
export async function planBatchedRewrite(group: readonly SentStatement[], catalog: CatalogLookup): Promise<RewritePlan> {
  const no = (reason: string): RewritePlan => ({ ok: false, reason });
  const first = group[0];
  if (first === undefined || group.length < 2) return no('it is not a group of statements');
  if (group.some((s) => s.sql !== first.sql))
    return no('its statements differ in their SQL text (values written into it), not in one parameter');
  if (group.some((s) => s.params.some((p) => p !== null && /^<binary \d+ bytes>$/.test(p))))
    return no('a parameter was sent in binary format');
  const varying = first.params.map((_, i) => i).filter((i) => group.some((s) => s.params[i] !== first.params[i]));
  if (varying.length !== 1) return no(`${varying.length === 0 ? 'no' : 'more than one'} parameter varies across the group`);
  const n = varying[0]! + 1;

  const parsed = await parsePlainSelect(first.sql);
  if (typeof parsed === 'string') return no(parsed);
  const { tree, plain } = parsed;
  const { select, table } = plain;
  const refs = paramRefs(tree);
  if (refs.filter((r) => r.number === n).length !== 1) return no(`$${n} appears more than once`);
  const equality = conjuncts(select.whereClause).find((c) => c.A_Expr?.rexpr?.ParamRef?.number === n);
  const expr = equality?.A_Expr as Node | undefined;
  if (expr === undefined || expr.kind !== 'AEXPR_OP' || expr.name?.length !== 1 || expr.name[0].String?.sval !== '=')
    return no(`$${n} is not the right side of a "column = $${n}" condition of the WHERE clause`);
  const column = plainColumn(expr.lexpr, table);
  if (column === null) return no(`the left side of "= $${n}" is not a plain column of ${table.relname}`);
  const info = await catalog(table.schemaname ?? null, table.relname);
  if (info === null) return no(`the catalog has no table ${table.relname}`);

  const source = new Source(first.sql, (await libpgQuery()).scanSync);
  const limit = select.limitCount as Node | undefined;
  const limitParam = limit?.ParamRef?.number as number | undefined;
  const limitValue =
    limit === undefined ? null : limitParam !== undefined ? Number(first.params[limitParam - 1]) : intConstant(limit);
  if (limit !== undefined && (limitValue === null || !Number.isInteger(limitValue) || limitValue < 1))
    return no('its LIMIT is not a positive whole number');
  const unique = info.uniqueKeys.some((k) => k.length === 1 && k[0] === column);
  const dropLimit = limit !== undefined && limitValue === 1 && unique;
  let shape: 'any' | 'window' = 'any';
  if (limit !== undefined && !dropLimit) {
    const sort = (select.sortClause as Node[] | undefined) ?? [];
    if (sort.length === 0)
      return no(`LIMIT ${limitValue} per group without ORDER BY: which rows each statement returned is not defined`);
    const orderColumns = sort.map((s) => plainColumn(s.SortBy?.node, table));
    if (orderColumns.some((c) => c === null))
      return no(`LIMIT ${limitValue} per group ordered by something other than plain columns`);
    const decided = new Set([column, ...(orderColumns as string[])]);
    const notNull = new Set(info.columns.filter((c) => c.notNull).map((c) => c.name));
    if (!info.uniqueKeys.some((k) => k.every((c) => decided.has(c) && notNull.has(c))))
      return no(`LIMIT ${limitValue} per group whose ORDER BY does not decide ties (no unique, not-null key among its columns)`);
    shape = 'window';
  }

  // Parameters: renumbered in order, the varying one becomes the array of the group's distinct values.
  const dropped = dropLimit && limitParam !== undefined ? limitParam : null;
  const kept = [...new Set(refs.map((r) => r.number))].filter((k) => k !== dropped).sort((a, b) => a - b);
  const renumber = new Map(kept.map((k, i) => [k, i + 1]));
  const distinct = [...new Set(group.map((s) => s.params[n - 1]))];
  const params = kept.map((k) => (k === n ? distinct : first.params[k - 1]));
  for (const ref of refs) {
    const token = source.tokenAt(ref.location);
    if (token === undefined) return no('the scanner and the parser disagree on a parameter');
    const to = renumber.get(ref.number);
    if (to !== undefined) source.replace(token.start, token.end, ref.number === n ? `ANY($${to})` : `$${to}`);
  }
  const end = source.end;
  const limitKeyword = limit === undefined ? undefined : source.keyword('limit');
  if (limit !== undefined && limitKeyword === undefined) return no('its row limit is not written as LIMIT');

  if (shape === 'any') {
    const sql = source.text(0, limitKeyword !== undefined && dropLimit ? limitKeyword.start : end).trimEnd();
    return { ok: true, sql, runs: [params] };
  }
  const names = outputNames(select, table, info);
  if (typeof names === 'string') return no(names);
  const selectKeyword = source.keyword('select');
  const fromKeyword = source.keyword('from', selectKeyword?.end ?? 0);
  const order = source.keyword('order', fromKeyword?.end ?? 0);
  const by = order === undefined ? undefined : source.keyword('by', order.end);
  if (
    selectKeyword === undefined ||
    fromKeyword === undefined ||
    order === undefined ||
    by === undefined ||
    limitKeyword!.start < by.end
  )
    return no('its clauses are not in the order SELECT … FROM … ORDER BY … LIMIT');
  const columnRef = (expr.lexpr.ColumnRef.fields as Node[]).map((f) => quoteIdent(f.String.sval)).join('.');
  const sql =
    `select ${names.map(quoteIdent).join(', ')} from (select ${source.text(selectKeyword.end, fromKeyword.start).trim()}, ` +
    `row_number() over (partition by ${columnRef} order by ${source.text(by.end, limitKeyword!.start).trim()}) as ctxbench_rn ` +
    `${source.text(fromKeyword.start, order.start).trim()}) as ctxbench_g where ctxbench_rn <= ${source.text(limitKeyword!.end, end).trim()}`;
  return { ok: true, sql, runs: [params] };
}

/**
 * Plans a `SELECT *` (or `t.*`) of one table rewritten to select only `columns`, for each of
 * the statements given (their parameters unchanged).
 *
 * @example
 * const plan = await planColumnsRewrite([{ sql: 'select * from t where id = $1', params: ['1'] }], ['name']);
 * // plan.ok && plan.sql === 'select "name" from t where id = $1'
 */
export async function planColumnsRewrite(statements: readonly SentStatement[], columns: readonly string[]): Promise<RewritePlan> {
  const no = (reason: string): RewritePlan => ({ ok: false, reason });
  const first = statements[0];
  if (first === undefined) return no('no statement');
  if (statements.some((s) => s.sql !== first.sql)) return no('its statements differ in their SQL text');
  if (columns.length === 0) return no('the prompt uses none of its columns (it may only feed another statement)');
  const parsed = await parsePlainSelect(first.sql);
  if (typeof parsed === 'string') return no(parsed);
  const { plain } = parsed;
  const targets = plain.select.targetList as Node[];
  const star = targets.length === 1 ? (targets[0]!.ResTarget?.val?.ColumnRef as Node | undefined) : undefined;
  if (star === undefined || (star.fields as Node[]).at(-1)?.A_Star === undefined)
    return no('its select list is not a lone * or t.*');
  const source = new Source(first.sql, (await libpgQuery()).scanSync);
  const starToken = source.tokens.find((t) => t.start >= star.location && t.text === '*');
  if (starToken === undefined) return no('the scanner and the parser disagree on the select list');
  source.replace(star.location, starToken.end, columns.map(quoteIdent).join(', '));
  return { ok: true, sql: source.text(0, source.end), runs: statements.map((s) => [...s.params]) };
}

/** Reads {@link TableInfo} through `control` (read-only catalog queries), cached per connection. */
const catalogs = new WeakMap<Knex, Map<string, Promise<TableInfo | null>>>();

/**
 * The catalog lookup of a session's control connection: `pg_attribute` and `pg_index`, read
 * once per table.
 *
 * @example
 * const info = await sessionCatalog(session.control)(null, 'website_pages');
 */
export function sessionCatalog(control: Knex): CatalogLookup {
  let cache = catalogs.get(control);
  if (cache === undefined) catalogs.set(control, (cache = new Map()));
  const tables = cache;
  return (schema, table) => {
    const name = schema === null ? quoteIdent(table) : `${quoteIdent(schema)}.${quoteIdent(table)}`;
    let hit = tables.get(name);
    if (hit === undefined) {
      hit = readTable(control, name);
      tables.set(name, hit);
    }
    return hit;
  };
}

async function readTable(control: Knex, name: string): Promise<TableInfo | null> {
  const columns = await control.raw(
    `select attnum, attname::text as name, attnotnull as "notNull" from pg_attribute
      where attrelid = to_regclass(?) and attnum > 0 and not attisdropped order by attnum`,
    [name],
  );
  if (columns.rows.length === 0) return null;
  const byNumber = new Map<number, string>(columns.rows.map((r: { attnum: number; name: string }) => [Number(r.attnum), r.name]));
  const indexes = await control.raw(
    `select indkey::text as key, indnkeyatts as keys from pg_index
      where indrelid = to_regclass(?) and indisunique and indisvalid and indpred is null and indexprs is null`,
    [name],
  );
  return {
    columns: columns.rows.map((r: { name: string; notNull: boolean }) => ({ name: r.name, notNull: r.notNull })),
    uniqueKeys: indexes.rows.map((r: { key: string; keys: number }) =>
      r.key
        .split(' ')
        .slice(0, Number(r.keys))
        .map((k) => byNumber.get(Number(k)) ?? `#${k}`),
    ),
  };
}

/** The fix of one finding in one turn, before the turns are summed. */
export interface TurnFix {
  kind: 'n-plus-one' | 'select-star';
  /** The finding's fingerprint (how findings name the shape). */
  fingerprint: string;
  fix: FindingFix;
}

/** Figures of a set of statements. */
function figures(statements: readonly StatementRecord[]): FixFigures {
  return {
    statements: statements.length,
    roundTrips: new Set(statements.map((s) => s.roundTrip)).size,
    rows: statements.reduce((a, s) => a + s.rows, 0),
    bytes: statements.reduce((a, s) => a + s.wireBytes, 0),
    payloadBytes: statements.reduce((a, s) => a + s.payloadBytes, 0),
  };
}

/** Why a rewrite's rows were not compared (a capture cut short by its limit). */
const UNCHECKED = 'the rows were not captured in full, so they could not be checked';

/** A statement's rows as comparable keys (its column names, then each row's field values), or why not. */
function rowsOf(statement: StatementRecord): { columns: string[]; rows: (Buffer | null)[][] } | string {
  const values = statementValues(statement);
  if (values === undefined || values.truncated) return UNCHECKED;
  const result = values.results[0];
  if (result === undefined) return { columns: [], rows: [] };
  return { columns: result.columns.map((c) => c.name), rows: result.rows.map((r) => dataRowValues(r)) };
}

/**
 * A row's identity for the multiset comparison: a digest of its fields, each with its length
 * (-1 for NULL) before its bytes, so no two different rows can be spelled the same. A digest,
 * not the values as text: a page row carries 60 KB, and a rewrite's check reads megabytes.
 */
function rowKey(row: readonly (Buffer | null)[]): string {
  const hash = createHash('sha256');
  const length = Buffer.alloc(4);
  for (const v of row) {
    length.writeInt32BE(v === null ? -1 : v.length);
    hash.update(length);
    if (v !== null) hash.update(v);
  }
  return hash.digest('base64');
}

/** Whether two lists of rows are the same multiset; else a short description of how they differ. */
function sameRows(expected: readonly (Buffer | null)[][], actual: readonly (Buffer | null)[][]): string | null {
  const counts = new Map<string, number>();
  for (const r of expected) {
    const k = rowKey(r);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  let unexpected = 0;
  for (const r of actual) {
    const k = rowKey(r);
    const c = counts.get(k) ?? 0;
    if (c === 0) unexpected += 1;
    else counts.set(k, c - 1);
  }
  const missing = [...counts.values()].reduce((a, c) => a + c, 0);
  if (missing === 0 && unexpected === 0) return null;
  return `it returned ${actual.length} rows where ${expected.length} were expected (${missing} missing, ${unexpected} not among them)`;
}

/** The fingerprint a finding shows for a statement. */
function findingFingerprint(s: StatementRecord): string {
  return s.fingerprint || fingerprintSql(s.sql);
}

/** Runs a plan through `call.record` and checks its rows against `expected` (one list per run). */
async function measurePlan(
  call: AfterCall,
  plan: Extract<RewritePlan, { ok: true }>,
  before: readonly StatementRecord[],
  expected: (columns: string[]) => (Buffer | null)[][] | string,
): Promise<FindingFix> {
  const m = await call.record(async (db) => {
    for (const params of plan.runs) await db.query(plan.sql, params);
  });
  if (m.error !== undefined) {
    const message = m.error instanceof Error ? m.error.message : String(m.error);
    return { status: 'failed', sql: plan.sql, reason: `the server refused it: ${message}` };
  }
  const actual: (Buffer | null)[][] = [];
  let columns: string[] | null = null;
  for (const s of m.statements) {
    const r = rowsOf(s);
    if (typeof r === 'string') return { status: 'failed', sql: plan.sql, reason: r };
    columns ??= r.columns;
    actual.push(...r.rows);
  }
  const want = expected(columns ?? []);
  if (typeof want === 'string')
    return { status: want.startsWith(UNCHECKED) ? 'failed' : 'different-rows', sql: plan.sql, reason: want };
  const difference = sameRows(want, actual);
  if (difference !== null) return { status: 'different-rows', sql: plan.sql, reason: difference };
  return { status: 'measured', sql: plan.sql, turns: 1, ...figures(m.statements), before: figures(before) };
}

/** The N+1 groups of a turn, as findings form them: one shape, at least two distinct (SQL, parameters). */
function nPlusOneGroups(statements: readonly StatementRecord[]): StatementRecord[][] {
  const byShape = new Map<string, StatementRecord[]>();
  for (const s of statements) {
    const key = s.fingerprint || fingerprintSql(s.sql);
    byShape.set(key, [...(byShape.get(key) ?? []), s]);
  }
  return [...byShape.values()].filter((g) => g.length >= 2 && new Set(g.map((s) => JSON.stringify([s.sql, s.params]))).size >= 2);
}

/**
 * The `after` hook of a warm-up build (see `MeasureOptions.after`): plans and measures the
 * fix of every N+1 group and of every `SELECT *` with unused columns of the turn, and hands
 * them to `done`. `promptOf` renders the build's value (for which columns the prompt used).
 *
 * @example
 * let fixes: TurnFix[] = [];
 * await session.measure((db) => strategy.build(db, turn), { after: whatIfAfterTurn(sessionCatalog(session.control), render, (f) => (fixes = f)) });
 */
export function whatIfAfterTurn(
  catalog: CatalogLookup,
  promptOf: (value: unknown) => string,
  done: (fixes: TurnFix[]) => void,
): (call: AfterCall) => Promise<void> {
  return async (call) => {
    const fixes: TurnFix[] = [];
    const statements = call.statements.filter((s) => s.error === null);
    for (const group of nPlusOneGroups(statements)) {
      if (call.signal?.aborted) return done(fixes);
      const fingerprint = findingFingerprint(group[0]!);
      fixes.push({ kind: 'n-plus-one', fingerprint, fix: await fixGroup(call, group, catalog) });
    }
    let prompt: string | null = null;
    try {
      prompt = promptOf(call.value);
    } catch {
      // A value the runner cannot render fails the turn there; no column fixes here.
    }
    if (prompt !== null) {
      const captured: CapturedStatement[] = [];
      for (const s of statements) {
        const values = statementValues(s);
        if (values !== undefined) captured.push({ sql: s.sql, values });
      }
      const uses = columnUsage(captured, prompt);
      const byShape = new Map<string, StatementRecord[]>();
      for (const s of statements) {
        const key = findingFingerprint(s);
        byShape.set(key, [...(byShape.get(key) ?? []), s]);
      }
      for (const [fingerprint, group] of byShape) {
        if (!selectsStar(group[0]!.sql)) continue;
        if (call.signal?.aborted) return done(fixes);
        const mine = uses.filter((u) => u.fingerprint === fingerprint);
        if (!mine.some((u) => u.used === false)) continue;
        const used = mine.filter((u) => u.used !== false).map((u) => u.column);
        fixes.push({ kind: 'select-star', fingerprint, fix: await fixColumns(call, group, used) });
      }
    }
    done(fixes);
  };
}

async function fixGroup(call: AfterCall, group: StatementRecord[], catalog: CatalogLookup): Promise<FindingFix> {
  let plan: RewritePlan;
  try {
    plan = await planBatchedRewrite(group, catalog);
  } catch (error) {
    return { status: 'not-rewritable', reason: `planning failed: ${(error as Error).message}` };
  }
  if (!plan.ok) return { status: 'not-rewritable', reason: plan.reason };
  // The group's rows, each distinct parameter value once: what `= ANY` must return.
  const n = group[0]!.params.findIndex((_, i) => group.some((s) => s.params[i] !== group[0]!.params[i]));
  const seen = new Set<string | null>();
  const firstPerValue = group.filter((s) => !seen.has(s.params[n] ?? null) && (seen.add(s.params[n] ?? null), true));
  return measurePlan(call, plan, group, (columns) => {
    const rows: (Buffer | null)[][] = [];
    for (const s of firstPerValue) {
      const r = rowsOf(s);
      if (typeof r === 'string') return r;
      if (r.columns.join('\u0000') !== columns.join('\u0000')) return 'it returned other columns than the group';
      rows.push(...r.rows);
    }
    return rows;
  });
}

async function fixColumns(call: AfterCall, group: StatementRecord[], used: string[]): Promise<FindingFix> {
  const plan = await planColumnsRewrite(group, used);
  if (!plan.ok) return { status: 'not-rewritable', reason: plan.reason };
  return measurePlan(call, plan, group, (columns) => {
    const rows: (Buffer | null)[][] = [];
    for (const s of group) {
      const r = rowsOf(s);
      if (typeof r === 'string') return r;
      const at = columns.map((c) => r.columns.indexOf(c));
      if (at.some((i) => i < 0)) return 'it returned columns the statement did not';
      rows.push(...r.rows.map((row) => at.map((i) => row[i] ?? null)));
    }
    return rows;
  });
}

/**
 * Sums the turns' fixes onto the findings they belong to (n-plus-one and select-star, by
 * fingerprint). A shape not rewritable, or whose rewrite failed or returned other rows, in
 * any turn keeps the first such verdict: a fix is reported only when it held on every turn.
 *
 * @example
 * attachFixes(findings, turns.map((t) => t.fixes));
 * findings[0]?.fix?.status; // 'measured'
 */
export function attachFixes(findings: Finding[], turns: readonly (readonly TurnFix[] | undefined)[]): void {
  const byKey = new Map<string, FindingFix>();
  for (const fixes of turns) {
    for (const { kind, fingerprint, fix } of fixes ?? []) {
      const key = `${kind}\u0000${fingerprint}`;
      const sofar = byKey.get(key);
      if (sofar === undefined) byKey.set(key, structuredClone(fix));
      else if (sofar.status === 'measured' && fix.status !== 'measured') byKey.set(key, structuredClone(fix));
      else if (sofar.status === 'measured' && fix.status === 'measured') {
        sofar.turns += fix.turns;
        for (const k of ['statements', 'roundTrips', 'rows', 'bytes', 'payloadBytes'] as const) {
          sofar[k] += fix[k];
          sofar.before[k] += fix.before[k];
        }
      }
    }
  }
  for (const f of findings) {
    if (f.kind !== 'n-plus-one' && f.kind !== 'select-star') continue;
    const fix = byKey.get(`${f.kind}\u0000${f.fingerprint}`);
    if (fix !== undefined) f.fix = fix;
  }
}
