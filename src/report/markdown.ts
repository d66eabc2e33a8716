/**
 * `--format markdown`: the comparison as GitHub-flavoured markdown for a pull-request
 * comment. Same figures as the terminal table ({@link buildComparison}); no colour.
 */
import { gateLines } from './gate.js';
import type { Report } from './model.js';
import {
  baselineOf,
  buildComparison,
  describeFinding,
  describeFix,
  describePlaces,
  describeFolded,
  describeTurn,
  differenceOf,
  foldFindings,
  trimLines,
} from './table.js';

/** Escapes text for a table cell or running text: markdown punctuation and the cell separator. */
function escape(text: string): string {
  return text.replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`);
}

/** An inline code span that survives backticks in its content. */
function code(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  // A newline would end the list item the span sits in.
  return `${fence}${pad}${text.replace(/\n/g, ' ')}${pad}${fence}`;
}

/** A fenced block longer than any backtick run inside it. */
function fenced(info: string, body: string): string[] {
  const longest = Math.max(0, ...[...body.matchAll(/^`{3,}/gm)].map((m) => m[0].length));
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}${info}`, ...body.split('\n'), fence];
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/**
 * The comparison as a markdown table, with totals, findings as a list, and the first
 * differing turn's diff in a ```diff fence. Ends with a newline.
 *
 * @example
 * await writeFile('ctxbench.md', renderMarkdown(report));
 */
export function renderMarkdown(report: Report): string {
  const comparison = buildComparison(report);
  const out: string[] = ['### ctxbench', '', escape(comparison.header), ''];

  if (report.strategies.length === 0) {
    out.push('No strategies were run.');
    return `${trimLines(out.join('\n'))}\n`;
  }

  const head = ['metric', ...comparison.columns.map(escape)];
  if (comparison.changeColumn !== null) head.push(escape(comparison.changeColumn));
  out.push(row(head), row(head.map((_, i) => (i === 0 ? ':---' : '---:'))));
  for (const r of comparison.rows) {
    const cells = [r.label, ...r.cells.map((c) => escape(c.text))];
    if (r.change !== null) cells.push(escape(r.change.text));
    out.push(row(cells));
  }

  out.push('', '**Totals**', '');
  for (const line of comparison.totals) out.push(`- ${escape(line)}`);

  if (comparison.sections.length > 0) {
    out.push('', '**Sections (per turn)**', '');
    for (const line of comparison.sections) out.push(`- ${escape(line.replace(/ {2,}/g, ' '))}`);
  }

  out.push('', '**Findings**', '');
  for (const s of report.strategies) {
    if (s.findings.length === 0) {
      out.push(`- ${code(s.name)}: none`);
      continue;
    }
    out.push(`- ${code(s.name)}`);
    const { listed, folded } = foldFindings(s.findings);
    for (const f of listed) {
      const d = describeFinding(f);
      const perTurn = d.perTurn === null ? '' : ` ${d.perTurn}`;
      const silenced = f.silenced === undefined ? '' : ` — silenced: ${escape(f.silenced)}`;
      out.push(`  - **${escape(d.label)}**${perTurn} ${code(d.sql)} (${d.extent})${silenced}`);
      const places = describePlaces(f);
      if (places !== null) out.push(`    ${code(places)}`);
      const fix = describeFix(f);
      if (fix !== null) out.push(`    - ${escape(fix)}`);
    }
    if (folded !== null) out.push(`  - **unused columns** ${escape(describeFolded(folded))} (${code('--format json')} lists them all)`);
  }

  const differing = report.strategies.filter((s) => s.contextIdentical === false);
  if (differing.length > 0) {
    const base = baselineOf(report)?.name ?? report.baseline;
    out.push('', `**Context differs from ${code(base)}**`);
    for (const s of differing) {
      const d = differenceOf(s);
      out.push('');
      if (d === null) {
        out.push(`- ${code(s.name)}: differs (no differing turn recorded)`);
        continue;
      }
      out.push(
        `- ${code(s.name)}: first differs at ${describeTurn(d, code)}`,
      );
      if (d.diff !== '') {
        const diff = d.diff.startsWith('--- ') ? d.diff : `--- ${base}\n+++ ${s.name}\n${d.diff}`;
        out.push('', ...fenced('diff', diff));
      }
    }
  }

  for (const line of gateLines(report)) {
    if (line.depth === 0) out.push('', `**${escape(line.text)}**`, '');
    else out.push(`${'  '.repeat(line.depth - 1)}- ${escape(line.text)}`);
  }

  return `${trimLines(out.join('\n'))}\n`;
}
