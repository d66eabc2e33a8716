/**
 * The CI gate's part of a report — budget violations and baseline changes — as plain lines,
 * shared by the table and markdown formats.
 */
import { METRIC_FLAGS, type BudgetMetric, type FingerprintChange, type Violation } from '../core/gate-results.js';
import type { Report } from './model.js';
import { formatBytes, formatNumber, oneLine } from './format.js';

const METRIC_NAMES: Record<BudgetMetric, string> = {
  queries: 'queries',
  roundTrips: 'round trips',
  bytes: 'bytes',
  payloadBytes: 'payload bytes',
  rows: 'rows',
  promptTokens: 'prompt tokens',
};

function amount(metric: BudgetMetric, n: number): string {
  return metric === 'bytes' || metric === 'payloadBytes' ? `${formatNumber(n)} B (${formatBytes(n)})` : formatNumber(n);
}

/** One line for a violation: `optimized · faqs · turn fa-shop-1/x: queries 7 > budget 5`. */
export function describeViolation(v: Violation): string {
  const where = [v.strategy, v.section, v.turn === null ? 'whole run' : `turn ${v.turn}`].filter((x) => x !== null).join(' · ');
  return `${where}: ${METRIC_NAMES[v.metric]} ${amount(v.metric, v.actual)} > budget ${amount(v.metric, v.budget)}`;
}

export interface GateLine {
  text: string;
  tone: 'good' | 'bad' | 'neutral';
  /** Indentation level (0 = heading). */
  depth: number;
}

/** The gate's lines (and, for `compare --before/--after`, the turns whose context was not checked); none when there is nothing to say. */
export function gateLines(report: Report): GateLine[] {
  const out: GateLine[] = [];
  const u = report.unchecked;
  if (u) {
    const list = (turns: string[]) => `${turns.slice(0, 10).join(', ')}${turns.length > 10 ? `, … ${turns.length - 10} more` : ''}`;
    out.push({ text: 'Context not checked for these turns', tone: 'neutral', depth: 0 });
    if (u.onlyInBefore.length > 0) out.push({ text: `only in before: ${list(u.onlyInBefore)}`, tone: 'neutral', depth: 1 });
    if (u.onlyInAfter.length > 0) out.push({ text: `only in after: ${list(u.onlyInAfter)}`, tone: 'neutral', depth: 1 });
    if (u.noPrompt.length > 0) out.push({ text: `not checked: no prompt: ${list(u.noPrompt)}`, tone: 'neutral', depth: 1 });
  }
  const b = report.budget;
  if (b) {
    out.push({ text: `Budget (${b.per === 'turn' ? 'per turn' : 'whole run'}, from ${b.source})`, tone: 'neutral', depth: 0 });
    if (b.passed) out.push({ text: `✓ all ${b.checks.length} budgets met`, tone: 'good', depth: 1 });
    const shown = b.violations.slice(0, 20);
    for (const v of shown) {
      out.push({ text: `✗ ${describeViolation(v)}`, tone: 'bad', depth: 1 });
      for (const s of v.statements.slice(0, 5)) {
        const what = s.count > 1 ? `${s.count}× from #${s.seq}` : `#${s.seq}`;
        out.push({ text: `${what} ${formatNumber(s.bytes)} B, ${formatNumber(s.rows)} rows  ${oneLine(s.sql, 90)}`, tone: 'neutral', depth: 2 });
      }
      if (v.statements.length > 5) out.push({ text: `… ${v.statements.length - 5} more`, tone: 'neutral', depth: 2 });
    }
    if (b.violations.length > shown.length) out.push({ text: `… ${b.violations.length - shown.length} more violations (see --format json)`, tone: 'bad', depth: 1 });
    for (const s of b.staleSilences ?? []) {
      out.push({
        text: `${b.strict ? '✗' : '!'} stale silence: matched nothing in this run (${s.reason})  ${oneLine(s.fingerprint, 90)}`,
        tone: b.strict ? 'bad' : 'neutral',
        depth: 1,
      });
    }
  }
  const f = report.baselineFile;
  if (f) {
    out.push({ text: `Baseline ${f.file}`, tone: 'neutral', depth: 0 });
    if (f.passed) out.push({ text: '✓ no figure grew', tone: 'good', depth: 1 });
    for (const r of f.regressions.slice(0, 20)) {
      out.push({ text: `✗ ${r.strategy} · turn ${r.turn}: ${METRIC_NAMES[r.metric]} ${amount(r.metric, r.baseline)} → ${amount(r.metric, r.actual)}`, tone: 'bad', depth: 1 });
    }
    if (f.regressions.length > 20) out.push({ text: `… ${f.regressions.length - 20} more`, tone: 'bad', depth: 1 });
    const where = (c: FingerprintChange) => `${c.strategy} · turn ${c.turn}${c.section == null ? '' : ` · ${c.section}`}`;
    for (const a of f.added.slice(0, 20)) {
      out.push({ text: `+ ${where(a)}: ${a.baseline}× → ${a.actual}×  ${oneLine(a.fingerprint, 90)}`, tone: 'bad', depth: 1 });
    }
    if (f.added.length > 20) out.push({ text: `… ${f.added.length - 20} more added (see --format json)`, tone: 'bad', depth: 1 });
    for (const r of f.removed.slice(0, 20)) {
      out.push({ text: `- ${where(r)}: ${r.baseline}× → ${r.actual}×  ${oneLine(r.fingerprint, 90)}`, tone: 'good', depth: 1 });
    }
    if (f.removed.length > 20) out.push({ text: `… ${f.removed.length - 20} more removed (see --format json)`, tone: 'good', depth: 1 });
    if (f.improvements.length > 0) {
      out.push({
        text: `${f.improvements.length} figure${f.improvements.length === 1 ? '' : 's'} improved${f.updated ? ': baseline tightened' : f.passed ? ': run with --update-baseline to tighten the baseline' : ''}`,
        tone: 'good',
        depth: 1,
      });
    }
    if (f.compared !== undefined) out.push({ text: `${f.compared} turn${f.compared === 1 ? '' : 's'} compared`, tone: 'neutral', depth: 1 });
    if (f.datasetChecked === false) out.push({ text: 'dataset not checked: unknown on one side (a baseline without one, or a --db/--setup database)', tone: 'neutral', depth: 1 });
    const list = (turns: { strategy: string; turn: string }[]) =>
      `${turns.slice(0, 10).map((t) => `${t.strategy} · ${t.turn}`).join(', ')}${turns.length > 10 ? `, … ${turns.length - 10} more` : ''}`;
    if (f.missingTurns.length > 0) out.push({ text: `not replayed, so not checked: ${list(f.missingTurns)}`, tone: 'neutral', depth: 1 });
    if (f.newTurns.length > 0) out.push({ text: `not in the baseline, so not checked (snapshot again to add them): ${list(f.newTurns)}`, tone: 'neutral', depth: 1 });
  }
  const changes = report.shapeChanges ?? [];
  if (changes.length > 0) {
    out.push({ text: 'What changed (statement shapes per turn and section, before → after)', tone: 'neutral', depth: 0 });
    for (const c of changes.slice(0, SHAPES_LISTED)) {
      const where = `turn ${c.turn}${c.section === null ? '' : ` · ${c.section}`}`;
      const sign = c.after > c.before ? '+' : '-';
      out.push({ text: `${sign} ${where}: ${c.before}× → ${c.after}×  ${oneLine(c.fingerprint, 90)}`, tone: c.after > c.before ? 'bad' : 'good', depth: 1 });
    }
    if (changes.length > SHAPES_LISTED) out.push({ text: `… ${changes.length - SHAPES_LISTED} more (see --format json)`, tone: 'neutral', depth: 1 });
  }
  return out;
}

/** How many changed shapes the text formats list (JSON has them all). */
export const SHAPES_LISTED = 30;

/** Flags that set per-turn budgets, for help texts. */
export const BUDGET_FLAGS = Object.values(METRIC_FLAGS);
