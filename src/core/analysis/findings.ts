/**
 * Findings (docs/design.md §5): patterns in the statements a strategy sent that are worth a
 * developer's attention. They are computed from the measured statements only, so they
 * apply equally to built-in and user strategies.
 */
import type { StatementRecord } from '../types.js';
import type { Finding } from '../../report/model.js';
import type { ColumnUse } from './column-usage.js';
import { fingerprint, fingerprintSql } from './fingerprint.js';
import { formatTags, stableTags, stripSqlCommenter } from './sqlcommenter.js';

const KIND_ORDER: Record<Finding['kind'], number> = { 'n-plus-one': 0, duplicate: 1, 'select-star': 2, 'unused-column': 3 };

/** A turn as findings see it: its statements and, when values were captured, how its prompt used their columns. */
export interface FindingsTurn {
  statements: StatementRecord[];
  /** From `columnUsage`; without it there are no unused-column findings for the turn. */
  columns?: readonly ColumnUse[];
}

/** Exact identity of a statement as sent: its SQL (without a sqlcommenter comment, which says who sent it) and its parameters. */
function callKey(s: StatementRecord): string {
  return JSON.stringify([s.tags === undefined ? s.sql : stripSqlCommenter(s.sql), s.params]);
}

/** Most call sites and tag groups a finding lists: enough to find the code, short enough to read. */
const MAX_PLACES = 5;

/** Notes where the group's statements came from on the finding: call sites and sqlcommenter tag groups, distinct, first seen first. */
/**
 * Adds `later`'s call sites and tag groups to `finding`'s, after its own, distinct, keeping at
 * most as many as one run keeps (for `merge`: `later` is the finding of a shard whose turns
 * came after).
 *
 * @example
 * mergePlaces(earlierShardFinding, laterShardFinding);
 */
export function mergePlaces(finding: Finding, later: Pick<Finding, 'callSites' | 'tags'>): void {
  for (const site of later.callSites ?? []) {
    const sites = (finding.callSites ??= []);
    if (sites.length < MAX_PLACES && !sites.includes(site)) sites.push(site);
  }
  for (const tags of later.tags ?? []) {
    const groups = (finding.tags ??= []);
    if (groups.length < MAX_PLACES && !groups.some((g) => formatTags(g) === formatTags(tags))) groups.push({ ...tags });
  }
}

function notePlaces(finding: Finding, group: readonly StatementRecord[]): void {
  for (const s of group) {
    const site = s.callSite;
    if (typeof site === 'string') {
      const sites = (finding.callSites ??= []);
      if (sites.length < MAX_PLACES && !sites.includes(site)) sites.push(site);
    }
    const tags = stableTags(s.tags);
    if (tags !== null) {
      const groups = (finding.tags ??= []);
      const key = formatTags(tags);
      if (groups.length < MAX_PLACES && !groups.some((g) => formatTags(g) === key)) groups.push(tags);
    }
  }
}

interface Lexeme {
  kind: 'name' | 'dot' | 'star' | 'open' | 'close' | 'comma' | 'other';
  text: string;
}

/** Lexes a fingerprint (literals and comments already gone) into what the select-list check needs. */
function lex(fingerprint: string): Lexeme[] {
  const out: Lexeme[] = [];
  const re = /("(?:[^"]|"")*"?)|([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)|(\s+)|(.)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(fingerprint)) !== null) {
    if (m[1] !== undefined || m[2] !== undefined) out.push({ kind: 'name', text: m[0] });
    else if (m[3] !== undefined) continue;
    else if (m[0] === '.') out.push({ kind: 'dot', text: m[0] });
    else if (m[0] === '*') out.push({ kind: 'star', text: m[0] });
    else if (m[0] === '(') out.push({ kind: 'open', text: m[0] });
    else if (m[0] === ')') out.push({ kind: 'close', text: m[0] });
    else if (m[0] === ',') out.push({ kind: 'comma', text: m[0] });
    else out.push({ kind: 'other', text: m[0] });
  }
  return out;
}

/** Keywords that end a select list at its own parenthesis depth. */
const LIST_END = new Set([
  'from', 'into', 'where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'fetch',
  'for', 'union', 'intersect', 'except',
]);

/**
 * Whether a statement selects every column: a select-list item that is a bare `*`, a
 * qualified `t.*` / `"t".*`, or every field of a parenthesised value, `(t).*` / `(a).*`.
 * `count(*)` and `a * b` are not.
 *
 * @example
 * selectsStar('select "t".* from t'); // => true
 * selectsStar('SELECT count(*) FROM t'); // => false
 */
export function selectsStar(sql: string): boolean {
  const tokens = lex(fingerprintSql(sql));
  // One frame per parenthesis depth: is it inside a select list, and how far is the current
  // item into the `name . name . *` shape (0 = item start, 1 = after a name, 2 = after a dot, -1 = not that shape;
  // 3 = inside a parenthesis that opened the item, which counts as a name once closed: `(t).*`).
  const frames: { inList: boolean; state: number }[] = [{ inList: false, state: -1 }];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const frame = frames[frames.length - 1];
    if (t.kind === 'open') {
      if (frame.inList) frame.state = frame.state === 0 ? 3 : -1;
      frames.push({ inList: false, state: -1 });
      continue;
    }
    if (t.kind === 'close') {
      if (frames.length > 1) frames.pop();
      if (frames[frames.length - 1].state === 3) frames[frames.length - 1].state = 1;
      continue;
    }
    if (t.kind === 'name') {
      const word = t.text.toLowerCase();
      if (word === 'select' && !t.text.startsWith('"')) {
        frame.inList = true;
        frame.state = 0;
        // Skip DISTINCT / ALL / DISTINCT ON (...): they precede the first item.
        let j = i + 1;
        const modifier = tokens[j]?.text.toLowerCase();
        if (modifier === 'all') {
          i = j;
        } else if (modifier === 'distinct') {
          j += 1;
          if (tokens[j]?.text.toLowerCase() === 'on' && tokens[j + 1]?.kind === 'open') {
            let depth = 0;
            for (j += 1; j < tokens.length; j++) {
              if (tokens[j].kind === 'open') depth += 1;
              if (tokens[j].kind === 'close') depth -= 1;
              if (depth === 0) break;
            }
            i = j;
          } else {
            i = j - 1;
          }
        }
        continue;
      }
      if (!frame.inList) continue;
      if (LIST_END.has(word) && !t.text.startsWith('"')) {
        frame.inList = false;
        continue;
      }
      frame.state = frame.state === 0 || frame.state === 2 ? 1 : -1;
      continue;
    }
    if (!frame.inList) continue;
    if (t.kind === 'comma') frame.state = 0;
    else if (t.kind === 'dot') frame.state = frame.state === 1 ? 2 : -1;
    else if (t.kind === 'star') {
      if (frame.state === 0 || frame.state === 2) return true;
      frame.state = -1;
    } else frame.state = -1;
  }
  return false;
}

interface Accumulator {
  finding: Finding;
  lastTurn: number;
}

/** The grouping key of a statement: the parser's fingerprint hash, blind to literals and IN-list lengths. */
// Grouped on the normalised text, not the parser's hash: the hash also ignores aliases and
// select-list constants, so it would merge statements a reader sees as different queries.
function shapeId(s: StatementRecord): string {
  return s.fingerprint || fingerprint(s.sql).text;
}

/**
 * Finds N+1 groups, duplicate statements, `SELECT *` and unused columns in a strategy's
 * turns, aggregated over turns per (kind, statement shape[, column]) and sorted n-plus-one,
 * duplicate, select-star, unused-column, then by bytes (descending), fingerprint and column.
 * Statements group by their fingerprint (the parser's normalised SQL, literals and
 * parameters stripped); a finding shows the SQL of its first statement.
 *
 * - n-plus-one: within one turn, one shape sent at least twice with different SQL or
 *   parameters; all its statements count, `maxPerTurn` is the largest such group.
 * - duplicate: within one turn, the same SQL and parameters sent more than once; every copy
 *   counts, `maxPerTurn` is the largest set of identical statements.
 * - select-star: statements whose select list has `*` or `t.*`.
 * - unused-column: a column none of whose values appears in the turn's prompt (`columns`
 *   given); counts the turns where it was unused, the statements that fetched it there
 *   (`maxPerTurn`: most in one turn), and `bytes` is the payload bytes of its values.
 *
 * @example
 * const findings = findFindings(report.turnDetails);
 * findings.filter((f) => f.kind === 'n-plus-one');
 */
export function findFindings(turns: readonly FindingsTurn[]): Finding[] {
  const findings = new FindingsAccumulator();
  for (const turn of turns) findings.addTurn(turn);
  return findings.result();
}

/** Distinct SQL texts whose `SELECT *` verdict is remembered: a run with literals in its SQL must not grow without bound. */
const STAR_CACHE_ENTRIES = 10_000;

/**
 * {@link findFindings}, one turn at a time: a long run folds each turn in as it is measured
 * and drops its statements, so memory follows the number of distinct statement shapes, not
 * the number of turns. `result()` equals `findFindings` of the same turns in the same order.
 *
 * @example
 * const findings = new FindingsAccumulator();
 * for (const turn of turns) findings.addTurn({ statements: turn.statements });
 * findings.result();
 */
export class FindingsAccumulator {
  private readonly found = new Map<string, Accumulator>();
  private readonly starCache = new Map<string, boolean>();
  /** Index of the next turn added. */
  private index = 0;

  private accumulator(key: string, make: () => Finding, turn: number): Finding {
    let acc = this.found.get(key);
    if (acc === undefined) {
      acc = { finding: make(), lastTurn: -1 };
      this.found.set(key, acc);
    }
    if (acc.lastTurn !== turn) {
      acc.finding.turns += 1;
      acc.lastTurn = turn;
    }
    return acc.finding;
  }

  private add(kind: Finding['kind'], turn: number, group: StatementRecord[], size: number): void {
    const first = group[0];
    const finding = this.accumulator(`${kind}\u0000${shapeId(first)}`, () => ({
      kind,
      fingerprint: first.fingerprint || fingerprintSql(first.sql),
      sql: first.sql,
      turns: 0,
      statements: 0,
      maxPerTurn: 0,
      bytes: 0,
    }), turn);
    finding.statements += group.length;
    finding.maxPerTurn = Math.max(finding.maxPerTurn, size);
    for (const s of group) finding.bytes += s.wireBytes;
    notePlaces(finding, group);
  }

  private addUnused(turn: number, use: ColumnUse): void {
    const kind = 'unused-column';
    const finding = this.accumulator(`${kind}\u0000${use.fingerprint}\u0000${use.column}`, () => ({
      kind,
      fingerprint: use.fingerprint,
      sql: use.sql,
      column: use.column,
      turns: 0,
      statements: 0,
      maxPerTurn: 0,
      bytes: 0,
    }), turn);
    finding.statements += use.statements;
    finding.maxPerTurn = Math.max(finding.maxPerTurn, use.statements);
    finding.bytes += use.bytes;
  }

  private selectsStar(sql: string): boolean {
    let star = this.starCache.get(sql);
    if (star === undefined) {
      star = selectsStar(sql);
      if (this.starCache.size >= STAR_CACHE_ENTRIES) this.starCache.clear();
      this.starCache.set(sql, star);
    }
    return star;
  }

  /** Folds in the next turn (turns count in the order they are added). */
  addTurn(turn: FindingsTurn): void {
    const index = this.index++;
    const byFingerprint = new Map<string, StatementRecord[]>();
    for (const s of turn.statements) {
      const fp = shapeId(s);
      const list = byFingerprint.get(fp);
      if (list === undefined) byFingerprint.set(fp, [s]);
      else list.push(s);
    }

    for (const group of byFingerprint.values()) {
      const byCall = new Map<string, StatementRecord[]>();
      for (const s of group) {
        const key = callKey(s);
        const list = byCall.get(key);
        if (list === undefined) byCall.set(key, [s]);
        else list.push(s);
      }
      if (group.length >= 2 && byCall.size >= 2) this.add('n-plus-one', index, group, group.length);
      for (const copies of byCall.values()) {
        if (copies.length >= 2) this.add('duplicate', index, copies, copies.length);
      }
    }

    const stars = new Map<string, StatementRecord[]>();
    for (const s of turn.statements) {
      if (!this.selectsStar(s.sql)) continue;
      const fp = shapeId(s);
      const list = stars.get(fp);
      if (list === undefined) stars.set(fp, [s]);
      else list.push(s);
    }
    for (const group of stars.values()) this.add('select-star', index, group, group.length);

    for (const use of turn.columns ?? []) if (use.used === false) this.addUnused(index, use);
  }

  /** The findings of every turn added so far, sorted as {@link findFindings} sorts them. */
  result(): Finding[] {
    return [...this.found.values()]
      .map((acc) => ({ ...acc.finding }))
      .sort(compareFindings);
  }
}

/**
 * The order findings are reported in: n-plus-one, duplicate, select-star, unused-column, then
 * by bytes (descending), fingerprint and column (exported for `merge`, which sorts the same way).
 *
 * @example
 * findings.sort(compareFindings);
 */
export function compareFindings(a: Finding, b: Finding): number {
  return (
    KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
    b.bytes - a.bytes ||
    compareText(a.fingerprint, b.fingerprint) ||
    compareText(a.column ?? '', b.column ?? '')
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
