/**
 * The default output (docs/design.md §6): a comparison table like the seed report's "before/after" table,
 * with measured numbers instead of predictions. The figures are computed once by
 * {@link buildComparison} and shared with the markdown renderer, so both formats always
 * say the same thing.
 */
import Table from 'cli-table3';
import { Chalk } from 'chalk';
import type { ChalkInstance } from 'chalk';
import { gateLines } from './gate.js';
import type { ContextDifference, Finding, Report, StrategyReport } from './model.js';

import { MINUS, formatBytes, formatMs, formatNumber, oneLine, plural, trimLines } from './format.js';
import { formatTags } from '../core/analysis/sqlcommenter.js';

export { formatBytes, formatMs, formatNumber, oneLine, plural, trimLines } from './format.js';

/** Whether a change is better, worse, or neither; decides the colour. */
export type Tone = 'good' | 'bad' | 'neutral';

/** One cell of the comparison, uncoloured. */
export interface ComparisonCell {
  text: string;
  tone: Tone;
}

/** One metric: its label, one cell per strategy, and the change of the last strategy against the baseline. */
export interface ComparisonRow {
  label: string;
  cells: ComparisonCell[];
  /** Null when there is no change column (a single strategy, or the baseline is last). */
  change: ComparisonCell | null;
}

/** Everything the table and markdown formats show, as plain text. */
export interface Comparison {
  /** Database, dataset, turns and repeat in one line. */
  header: string;
  /** Strategy names, in report order. */
  columns: string[];
  /** Heading of the change column (`optimized vs naive`), or null when there is none. */
  changeColumn: string | null;
  rows: ComparisonRow[];
  /** Exact integer totals, one line per strategy (`naive: 312 queries, …`). */
  totals: string[];
  /** Per-section means, one line per strategy and section; empty when no strategy labels sections. */
  sections: string[];
}

/** A ratio with one decimal (`31.7`), grouped like other numbers. */
function formatRatio(n: number): string {
  return Number.isFinite(n) ? formatNumber(Number(n.toFixed(1))) : '—';
}

/** A relative change in percent: whole percents, one decimal where rounding would hide it (`−0.4%`, `−99.6%`). */
function formatPercent(delta: number, base: number): string | null {
  if (base === 0 || !Number.isFinite(delta / base)) return null;
  const p = (delta / base) * 100;
  const abs = Math.abs(p);
  const sign = p < 0 ? MINUS : p > 0 ? '+' : '';
  const rounded = Math.round(abs);
  const text = (rounded === 0 && abs > 0) || (rounded === 100 && abs !== 100) ? abs.toFixed(1) : String(rounded);
  return `${sign}${text}%`;
}

/** The change of a lower-is-better figure: signed difference and percentage (`−20 (−74%)`). */
function amountChange(base: number, last: number, format: (n: number) => string, neutral = false): ComparisonCell {
  const delta = last - base;
  if (delta === 0) return { text: `±${format(0)}`, tone: 'neutral' };
  const sign = delta < 0 ? MINUS : '+';
  const percent = formatPercent(delta, base);
  const text = `${sign}${format(Math.abs(delta))}${percent === null ? '' : ` (${percent})`}`;
  return { text, tone: neutral ? 'neutral' : delta < 0 ? 'good' : 'bad' };
}

/** The change of a latency as a speed ratio (`3.1× faster`, `1.4× slower`). */
function latencyChange(base: number, last: number): ComparisonCell {
  if (!(base > 0) || !(last > 0)) return { text: '—', tone: 'neutral' };
  const ratio = base / last;
  const factor = ratio >= 1 ? ratio : 1 / ratio;
  const text = factor < 10 ? factor.toFixed(1) : formatNumber(Math.round(factor));
  if (text === '1.0') return { text: 'about the same', tone: 'neutral' };
  return ratio > 1 ? { text: `${text}× faster`, tone: 'good' } : { text: `${text}× slower`, tone: 'bad' };
}

/** `PostgreSQL 17.5` for a bare version number; a full version string as reported. */
function serverName(version: string): string {
  return /^\d/.test(version) ? `PostgreSQL ${version}` : version;
}

/** The strategy the others are compared against: the one named `report.baseline`, else the first. */
export function baselineOf(report: Report): StrategyReport | undefined {
  return report.strategies.find((s) => s.name === report.baseline) ?? report.strategies[0];
}

/** The run described in one line: tool, database, dataset, turns and repeat. */
function headerLine(report: Report): string {
  const db = report.database;
  const parts = [`${report.tool.name} ${report.tool.version}`];
  parts.push(`${db.kind}, ${serverName(db.serverVersion)}${db.url === null ? '' : ` (${db.url})`}`);
  if (report.dataset !== null) parts.push(`dataset ${report.dataset.scale} (seed ${report.dataset.seed})`);
  const turns = [...new Set(report.strategies.map((s) => s.turns))];
  if (turns.length === 1) parts.push(plural(turns[0], 'turn'));
  else if (turns.length > 1) parts.push(`turns ${turns.map((t) => formatNumber(t)).join('/')}`);
  parts.push(`repeat ${formatNumber(report.repeat)}`);
  const rtt = recordingOf(report)?.rttMs;
  if (rtt !== undefined) parts.push(`${formatNumber(rtt)} ms RTT added (measured through a delay proxy)`);
  return parts.join(' · ');
}

/** Per-turn means of each section (`naive  history: 12.3 queries, 4.5 kB, 20 rows`). */
function sectionLines(strategies: readonly StrategyReport[]): string[] {
  if (!strategies.some((s) => s.sections.some((sec) => sec.name !== null))) return [];
  const width = Math.max(...strategies.flatMap((s) => s.sections.map((sec) => `${s.name} ${sec.name ?? '(none)'}`.length)));
  return strategies.flatMap((s) =>
    s.sections.map((sec) => {
      const p = sec.perTurn;
      const label = `${s.name} ${sec.name ?? '(none)'}`.padEnd(width);
      return `${label}  ${formatNumber(p.queries)} ${p.queries === 1 ? 'query' : 'queries'}, ${formatBytes(p.bytes)}, ${formatNumber(p.rows)} ${p.rows === 1 ? 'row' : 'rows'}`;
    }),
  );
}

/** Exact totals of one strategy, for gating and for checking the means. */
function totalsLine(s: StrategyReport): string {
  const t = s.totals;
  return (
    `${s.name}: ${plural(t.queries, 'query', 'queries')}, ${plural(t.roundTrips, 'round trip')}, ` +
    `${plural(t.bytes, 'byte')}, ${formatNumber(t.payloadBytes)} payload bytes, ${plural(t.rows, 'row')} ` +
    `over ${plural(s.turns, 'turn')}`
  );
}

/**
 * The figures of the comparison table as plain text, shared by the table and markdown formats.
 *
 * @example
 * const { columns, rows } = buildComparison(report);
 */
export function buildComparison(report: Report): Comparison {
  const strategies = report.strategies;
  const base = baselineOf(report);
  const last = strategies[strategies.length - 1];
  const compare = base !== undefined && last !== undefined && last !== base;

  const metric: MetricRow = (label, value, format, change) => ({
    label,
    cells: strategies.map((s) => ({ text: format(value(s)), tone: 'neutral' })),
    change: compare ? change(value(base), value(last)) : null,
  });
  const count = (b: number, l: number): ComparisonCell => amountChange(b, l, formatNumber);
  const bytes = (b: number, l: number): ComparisonCell => amountChange(b, l, formatBytes);

  const rows: ComparisonRow[] = [
    metric('queries/turn', (s) => s.perTurn.queries, formatNumber, count),
    metric('round trips/turn', (s) => s.perTurn.roundTrips, formatNumber, count),
    metric('bytes/turn (wire)', (s) => s.perTurn.bytes, formatBytes, bytes),
    metric('payload bytes/turn', (s) => s.perTurn.payloadBytes, formatBytes, bytes),
    metric('rows/turn', (s) => s.perTurn.rows, formatNumber, count),
    metric('latency p50', (s) => s.perTurn.latencyMs.p50, formatMs, latencyChange),
    metric('latency p95', (s) => s.perTurn.latencyMs.p95, formatMs, latencyChange),
    // With --rtt: the same builds measured again through a delay proxy, one pair of rows per RTT.
    ...(report.latencyByRtt ?? []).flatMap((r) => {
      const at = (s: StrategyReport) =>
        r.strategies.find((x) => x.name === s.name)?.latencyMs ?? { p50: NaN, p95: NaN, max: NaN };
      const rtt = `${formatNumber(r.rttMs)} ms RTT`;
      return [
        metric(`latency p50 @ ${rtt}`, (s) => at(s).p50, formatMs, latencyChange),
        metric(`latency p95 @ ${rtt}`, (s) => at(s).p95, formatMs, latencyChange),
      ];
    }),
    // A recording of someone else's program (ctxbench proxy/record) has no prompt to compare.
    ...(hasPrompts(report) ? promptRows(strategies, compare, metric) : []),
    // A strategy fails on its first error; a recorded program goes on, so its errors are counted.
    ...(isRecording(report) ? [metric('failed statements', (s) => failedStatements(s).length, formatNumber, count)] : []),
  ];

  return {
    header: headerLine(report),
    columns: strategies.map((s) => s.name),
    changeColumn: compare ? `${last.name} vs ${base.name}` : null,
    rows,
    totals: strategies.map(totalsLine),
    sections: sectionLines(strategies),
  };
}

/** Makes a comparison row of one figure: its value per strategy, and its change from baseline to last. */
type MetricRow = (
  label: string,
  value: (s: StrategyReport) => number,
  format: (n: number) => string,
  change: (base: number, last: number) => ComparisonCell,
) => ComparisonRow;

/**
 * Whether the report's strategies built prompts: not so for a recording of a program (it carries
 * `recording`, and its turns have empty prompt hashes); a summary without turn details did.
 */
function hasPrompts(report: Report): boolean {
  const turns = report.strategies.flatMap((s) => s.turnDetails);
  // A recording has prompts only where its program logged them (the prompt log).
  if ((report as { recording?: unknown }).recording !== undefined) return turns.some((t) => t.promptSha256 !== '');
  return turns.length === 0 || turns.some((t) => t.promptSha256 !== '');
}

/** What a recording (ctxbench proxy/record) says about its connections, as far as the table shows it. */
interface RecordingConnections {
  /** The round-trip time `record --rtt` added, milliseconds. */
  rttMs?: number;
  connections: {
    id: number;
    abandoned: number;
    upstreamError: string | null;
    terminated?: string | null;
    trackingError?: string | null;
    untrackedBytes?: number;
    refusedMessageBytes?: number | null;
  }[];
}

function recordingOf(report: Report): RecordingConnections | undefined {
  return (report as { recording?: RecordingConnections }).recording;
}

function isRecording(report: Report): boolean {
  return recordingOf(report) !== undefined;
}

/** A strategy's statements that ended in an error, with the turn they were in. */
function failedStatements(s: StrategyReport): { turn: string; sql: string; error: string }[] {
  return s.turnDetails.flatMap((t) =>
    t.statements.filter((x) => x.error !== null).map((x) => ({ turn: t.turn, sql: x.sql, error: x.error! })),
  );
}

/** Failed statements listed one by one under Failures; the rest are counted. */
export const FAILURES_LISTED = 10;

/**
 * The Failures and Connections blocks of a recording: its failed statements (the first
 * {@link FAILURES_LISTED} per strategy), and connections the server ended, that never reached
 * it, that the proxy could only partly measure, or that it closed for an oversized message.
 *
 * @example
 * const { failures, connections } = recordingLines(report);
 */
export function recordingLines(report: Report): { failures: string[]; connections: string[] } {
  const recording = recordingOf(report);
  if (recording === undefined) return { failures: [], connections: [] };
  const failures = report.strategies.flatMap((s) => {
    const failed = failedStatements(s);
    if (failed.length === 0) return [];
    const lines = [`${s.name}: ${plural(failed.length, 'failed statement')}`];
    for (const f of failed.slice(0, FAILURES_LISTED)) lines.push(`  ${f.turn}: ${oneLine(f.error, 120)}  ${oneLine(f.sql, 80)}`);
    if (failed.length > FAILURES_LISTED) lines.push(`  ${formatNumber(failed.length - FAILURES_LISTED)} more (--format json lists them all)`);
    return lines;
  });
  const connections: string[] = [];
  for (const c of recording.connections) {
    const what: string[] = [];
    if (c.upstreamError !== null) what.push(`could not reach the upstream: ${c.upstreamError}`);
    else if (c.terminated) what.push(`ended by the server: ${c.terminated}`);
    if (c.refusedMessageBytes != null) what.push(`closed by the proxy: a ${formatNumber(c.refusedMessageBytes)}-byte message over --max-message-bytes`);
    if (c.abandoned > 0) what.push(`${plural(c.abandoned, 'statement')} left unanswered`);
    if (c.trackingError) {
      what.push(
        `not measured after a protocol error (${c.trackingError}): ${formatNumber(c.untrackedBytes ?? 0)} client bytes untracked, their statements missing`,
      );
    }
    if (what.length > 0) connections.push(`connection ${c.id}: ${what.join('; ')}`);
  }
  return { failures, connections };
}

/** The prompt rows: its size, and whether it matched the baseline's. */
function promptRows(strategies: StrategyReport[], compare: boolean, metric: MetricRow): ComparisonRow[] {
  const last = strategies[strategies.length - 1]!;
  const tokens = (s: StrategyReport): number => s.perTurn.promptTokens ?? NaN;
  // Only when the report counted tokens (a tokenizer other than none).
  const tokenRows = strategies.some((s) => s.perTurn.promptTokens !== undefined)
    ? [
        metric('prompt tokens', tokens, formatNumber, (b, l) => amountChange(b, l, formatNumber, true)),
        // What the database sent for each token the model reads.
        metric(
          'wire bytes/prompt token',
          (s) => s.perTurn.bytes / tokens(s),
          formatRatio,
          (b, l) => amountChange(b, l, formatRatio),
        ),
      ]
    : [];
  return [
    metric(
      'prompt bytes',
      (s) => s.perTurn.promptBytes,
      formatBytes,
      (b, l) => amountChange(b, l, formatBytes, true),
    ),
    ...tokenRows,
    {
      label: 'context identical',
      cells: strategies.map((s) =>
        s.contextIdentical === null ? { text: 'not checked', tone: 'neutral' } : s.contextIdentical ? { text: '✓', tone: 'good' } : { text: '✗ differs', tone: 'bad' },
      ),
      change: compare
        ? last.contextIdentical === null
          ? { text: 'not checked', tone: 'neutral' }
          : last.contextIdentical
            ? { text: 'unchanged', tone: 'good' }
            : { text: 'differs', tone: 'bad' }
        : null,
    },
  ];
}

/** A finding as a label and a one-line description, shared by the table and markdown formats. */
export function describeFinding(f: Finding): { label: string; perTurn: string | null; sql: string; extent: string } {
  if (f.kind === 'unused-column') {
    // Its bytes are the column's payload, not the statements' wire bytes: say so.
    return {
      label: `unused column ${f.column ?? '?'}`,
      perTurn: null,
      sql: oneLine(f.sql),
      extent: `${plural(f.statements, 'statement')} in ${plural(f.turns, 'turn')}, ${formatBytes(f.bytes)} payload`,
    };
  }
  const label = f.kind === 'n-plus-one' ? 'N+1' : f.kind === 'duplicate' ? 'duplicate' : 'SELECT *';
  return {
    label,
    perTurn: f.kind === 'select-star' ? null : `${formatNumber(f.maxPerTurn)}× per turn`,
    sql: oneLine(f.sql),
    extent: `${plural(f.statements, 'statement')} in ${plural(f.turns, 'turn')}, ${formatBytes(f.bytes)}`,
  };
}

/**
 * A finding's measured fix (what-if) as one line, or null when it has none.
 *
 * @example
 * describeFix(finding); // 'fix: 1 statement instead of 10 (round trips 10 → 1, rows 10 → 2), 113.3 kB → 15.7 kB, measured'
 */
export function describeFix(f: Finding): string | null {
  const fix = f.fix;
  if (fix === undefined) return null;
  if (fix.status === 'not-rewritable') return `fix: not rewritable: ${fix.reason}`;
  if (fix.status === 'different-rows') return `fix: none, the rewrite returned other rows: ${fix.reason}`;
  if (fix.status !== 'measured') return `fix: none, the rewrite failed: ${fix.reason}`;
  const bytes = `${formatBytes(fix.before.bytes)} → ${formatBytes(fix.bytes)}`;
  if (f.kind === 'select-star') {
    return `fix: only the used columns, ${bytes} (${formatBytes(fix.before.bytes - fix.bytes)} saved), measured`;
  }
  return (
    `fix: ${plural(fix.statements, 'statement')} instead of ${formatNumber(fix.before.statements)} ` +
    `(round trips ${formatNumber(fix.before.roundTrips)} → ${formatNumber(fix.roundTrips)}, rows ${formatNumber(fix.before.rows)} → ${formatNumber(fix.rows)}), ${bytes}, measured`
  );
}

/**
 * Where a finding's statements came from, as one short line: its call sites and its
 * sqlcommenter tag groups (`at src/build.ts:12, src/build.ts:30 · in controller=orders route=/orders`);
 * null when neither is known.
 *
 * @example
 * describePlaces({ ...finding, callSites: ['src/x.ts:12'] }); // => 'at src/x.ts:12'
 */
export function describePlaces(f: Finding): string | null {
  const parts: string[] = [];
  if (f.callSites !== undefined && f.callSites.length > 0) parts.push(`at ${f.callSites.join(', ')}`);
  if (f.tags !== undefined && f.tags.length > 0) parts.push(`in ${f.tags.map((t) => formatTags(t)).join('; ')}`);
  return parts.length === 0 ? null : parts.join(' · ');
}

/** Unused-column findings listed one by one; the rest are summed in one line. */
export const UNUSED_COLUMNS_LISTED = 5;

/**
 * The findings to list, and a summary of the unused-column findings past the first
 * {@link UNUSED_COLUMNS_LISTED} (by bytes): a `SELECT *` strategy has dozens, and the JSON
 * report keeps them all.
 *
 * @example
 * const { listed, folded } = foldFindings(strategy.findings);
 * if (folded !== null) console.log(`${folded.count} more unused columns, ${formatBytes(folded.bytes)} payload`);
 */
export function foldFindings(findings: readonly Finding[]): {
  listed: Finding[];
  folded: { count: number; bytes: number } | null;
} {
  const listed: Finding[] = [];
  let unused = 0;
  let count = 0;
  let bytes = 0;
  for (const f of findings) {
    if (f.kind === 'unused-column' && ++unused > UNUSED_COLUMNS_LISTED) {
      count += 1;
      bytes += f.bytes;
    } else {
      listed.push(f);
    }
  }
  return { listed, folded: count === 0 ? null : { count, bytes } };
}

/** The summary line of folded unused-column findings (`66 more, 53.1 kB payload`). */
export function describeFolded(folded: { count: number; bytes: number }): string {
  return `${formatNumber(folded.count)} more, ${formatBytes(folded.bytes)} payload`;
}

/** The first turn where a strategy's prompt differs and its diff, falling back to the turn details. */
export function differenceOf(s: StrategyReport): ContextDifference | null {
  if (s.contextIdentical !== false) return null;
  if (s.difference !== null) return s.difference;
  const turn = s.turnDetails.find((t) => t.contextIdentical === false);
  return turn === undefined
    ? null
    : { turn: turn.turn, conversationId: turn.conversationId, messageId: turn.messageId, diff: '' };
}

/** Where a difference is: `conversation X, message Y` on the reference schema, else `turn <label>`. */
export function describeTurn(
  d: Pick<ContextDifference, 'turn' | 'conversationId' | 'messageId'>,
  code: (s: string) => string = (s) => s,
): string {
  return d.conversationId !== null && d.messageId !== null
    ? `conversation ${code(d.conversationId)}, message ${code(d.messageId)}`
    : `turn ${code(d.turn)}`;
}

function paint(chalk: ChalkInstance, cell: ComparisonCell): string {
  if (cell.tone === 'good') return chalk.green(cell.text);
  if (cell.tone === 'bad') return chalk.red(cell.text);
  return cell.text;
}

/** Colours one line of a unified diff. */
function paintDiffLine(chalk: ChalkInstance, line: string): string {
  if (line.startsWith('--- ') || line.startsWith('+++ ')) return chalk.bold(line);
  if (line.startsWith('@@')) return chalk.cyan(line);
  if (line.startsWith('-')) return chalk.red(line);
  if (line.startsWith('+')) return chalk.green(line);
  return line;
}

/**
 * The comparison as a terminal table: a header line, one column per strategy plus a change
 * column (last strategy against the baseline), exact totals, findings, and the first
 * differing turn of any strategy whose prompt differs. Ends with a newline.
 *
 * @example
 * process.stdout.write(renderTable(report, { color: process.stdout.isTTY && !process.env.NO_COLOR }));
 */
export function renderTable(report: Report, options: { color: boolean }): string {
  const chalk = new Chalk({ level: options.color ? 1 : 0 });
  const comparison = buildComparison(report);
  const out: string[] = [chalk.bold(comparison.header)];

  if (report.strategies.length === 0) {
    out.push('', 'No strategies were run.');
    return `${trimLines(out.join('\n'))}\n`;
  }

  const head = ['', ...comparison.columns];
  if (comparison.changeColumn !== null) head.push(comparison.changeColumn);
  const table = new Table({
    head: head.map((h) => chalk.bold(h)),
    colAligns: head.map((_, i) => (i === 0 ? 'left' : 'right')),
    style: { head: [], border: [], compact: true },
  });
  for (const row of comparison.rows) {
    const cells = [row.label, ...row.cells.map((c) => paint(chalk, c))];
    if (row.change !== null) cells.push(paint(chalk, row.change));
    table.push(cells);
  }
  out.push(table.toString());

  out.push('', chalk.bold('Totals'));
  for (const line of comparison.totals) out.push(`  ${line}`);

  if (comparison.sections.length > 0) {
    out.push('', chalk.bold('Sections (per turn)'));
    for (const line of comparison.sections) out.push(`  ${line}`);
  }

  out.push('', chalk.bold('Findings'));
  for (const s of report.strategies) {
    if (s.findings.length === 0) {
      out.push(`  ${s.name}: none`);
      continue;
    }
    out.push(`  ${s.name}`);
    const { listed, folded } = foldFindings(s.findings);
    for (const f of listed) {
      const d = describeFinding(f);
      const what = d.perTurn === null ? d.sql : `${d.perTurn}  ${d.sql}`;
      const silenced = f.silenced === undefined ? '' : chalk.dim(`  [silenced: ${f.silenced}]`);
      out.push(`    ${chalk.yellow(`${d.label}:`)} ${what}  (${d.extent})${silenced}`);
      const places = describePlaces(f);
      if (places !== null) out.push(`      ${chalk.dim(places)}`);
      const fix = describeFix(f);
      if (fix !== null) out.push(`      ${fix}`);
    }
    if (folded !== null)
      out.push(`    ${chalk.yellow('unused columns:')} ${describeFolded(folded)} (--format json lists them all)`);
  }

  const { failures, connections } = recordingLines(report);
  if (failures.length > 0) {
    out.push('', chalk.bold('Failures'));
    for (const line of failures) out.push(`  ${line}`);
  }
  if (connections.length > 0) {
    out.push('', chalk.bold('Connections'));
    for (const line of connections) out.push(`  ${chalk.yellow(line)}`);
  }

  const differing = report.strategies.filter((s) => s.contextIdentical === false);
  if (differing.length > 0) {
    const base = baselineOf(report);
    out.push('', chalk.bold(chalk.red(`Context differs from ${base?.name ?? report.baseline}`)));
    for (const s of differing) {
      const d = differenceOf(s);
      if (d === null) {
        out.push(`  ${s.name}: differs (no differing turn recorded)`);
        continue;
      }
      out.push(`  ${s.name}: first differs at ${describeTurn(d)}`);
      const lines = d.diff === '' ? ['(no diff recorded)'] : d.diff.split('\n');
      if (d.diff !== '' && !d.diff.startsWith('--- ')) {
        lines.unshift(`--- ${base?.name ?? report.baseline}`, `+++ ${s.name}`);
      }
      for (const line of lines) out.push(line === '' ? '' : `    ${paintDiffLine(chalk, line)}`);
    }
  }

  for (const line of gateLines(report)) {
    if (line.depth === 0) out.push('', chalk.bold(line.text));
    else {
      const text = line.tone === 'good' ? chalk.green(line.text) : line.tone === 'bad' ? chalk.red(line.text) : line.text;
      out.push(`${'  '.repeat(line.depth)}${text}`);
    }
  }

  return `${trimLines(out.join('\n'))}\n`;
}
