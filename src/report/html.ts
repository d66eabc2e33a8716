/**
 * `--format html`: one self-contained page — the comparison table (the same figures as the
 * terminal table, from {@link buildComparison}), charts drawn to static SVG at report time,
 * the findings with their statement shapes, and the diff of a differing prompt. No script,
 * no font file, no request of any kind: it opens from `file://` and from a downloaded CI
 * artifact alike. It renders the report it is given and nothing else, so a redacted report
 * (diagnose without `--show-content`) stays redacted.
 */
import type { Diagnosis } from '../commands/diagnose.js';
import type { SweepResult } from '../commands/sweep.js';
import { barChart, lineChart, type ChartSpec } from './charts.js';
import { renderDiagnosisText } from './diagnosis.js';
import { gateLines } from './gate.js';
import type { Report, StrategyReport } from './model.js';
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
  formatBytes,
  formatNumber,
} from './table.js';

/** Escapes text for HTML content and attribute values. */
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --good: #1a7f37; --bad: #cf222e; --bg-soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 16px 0 6px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600; margin-right: 8px; }
.verdict.good { background: #dafbe1; color: var(--good); } .verdict.bad { background: #ffebe9; color: var(--bad); }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); }
th { text-align: right; background: var(--bg-soft); } th:first-child, td:first-child { text-align: left; }
td { text-align: right; white-space: nowrap; }
td.good { color: var(--good); font-weight: 600; } td.bad { color: var(--bad); font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 4px; background: #fff; }
figure.wide { flex-basis: 100%; }
ul { margin: 4px 0; padding-left: 20px; } li { margin: 3px 0; }
code, pre { font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { background: var(--bg-soft); padding: 1px 4px; border-radius: 4px; word-break: break-all; }
pre { background: var(--bg-soft); padding: 10px 12px; border-radius: 6px; overflow-x: auto; }
.kind { font-weight: 600; color: #9a6700; } .muted { color: var(--muted); }
.del { color: var(--bad); background: #ffebe9; display: block; } .add { color: var(--good); background: #dafbe1; display: block; }
.gate .good { color: var(--good); } .gate .bad { color: var(--bad); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
`;

function page(title: string, body: string): string {
  return (
    `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    // No request may leave the page, even by accident: a strict policy backs the promise.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">\n` +
    `<title>${esc(title)}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n<main>\n${body}\n</main>\n</body>\n</html>\n`
  );
}

function figure(id: string, svg: string, wide = false): string {
  return `<figure data-chart="${esc(id)}"${wide ? ' class="wide"' : ''}>${svg}</figure>`;
}

/** The comparison table, with each strategy's exact figure behind its cell (`data-value`) for checking. */
function comparisonTable(report: Report): string {
  const c = buildComparison(report);
  const head = ['', ...c.columns, ...(c.changeColumn === null ? [] : [c.changeColumn])];
  const rows = c.rows.map((row) => {
    const cells = row.cells.map((cell, i) => `<td class="${cell.tone}" data-strategy="${esc(c.columns[i]!)}">${esc(cell.text)}</td>`);
    if (row.change !== null) cells.push(`<td class="${row.change.tone}" data-change>${esc(row.change.text)}</td>`);
    return `<tr data-row="${esc(row.label)}"><td>${esc(row.label)}</td>${cells.join('')}</tr>`;
  });
  return (
    `<table id="comparison"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.join('\n')}</tbody></table>`
  );
}

/** Exact totals, one row per strategy; `data-value` holds the unformatted figure. */
function totalsTable(strategies: readonly StrategyReport[]): string {
  const tokens = strategies.some((s) => s.totals.promptTokens !== undefined);
  type Column = [key: string, label: string, get: (s: StrategyReport) => number | undefined];
  const cols: Column[] = [
    ['queries', 'queries', (s) => s.totals.queries],
    ['roundTrips', 'round trips', (s) => s.totals.roundTrips],
    ['bytes', 'wire bytes', (s) => s.totals.bytes],
    ['payloadBytes', 'payload bytes', (s) => s.totals.payloadBytes],
    ['rows', 'rows', (s) => s.totals.rows],
  ];
  if (tokens) cols.push(['promptTokens', 'prompt tokens', (s) => s.totals.promptTokens]);
  cols.push(['turns', 'turns', (s) => s.turns]);
  const head = `<tr><th>strategy</th>${cols.map(([, label]) => `<th>${esc(label)}</th>`).join('')}</tr>`;
  const body = strategies.map(
    (s) =>
      `<tr data-strategy="${esc(s.name)}"><td>${esc(s.name)}</td>${cols
        .map(([key, , get]) => {
          const v = get(s);
          return v === undefined ? `<td data-metric="${key}">—</td>` : `<td data-metric="${key}" data-value="${v}">${formatNumber(v)}</td>`;
        })
        .join('')}</tr>`,
  );
  return `<table id="totals"><thead>${head}</thead><tbody>${body.join('\n')}</tbody></table>`;
}

/** The chart specs of a report: per strategy, bytes by section, per turn, and latency by RTT. */
export function reportCharts(report: Report): { id: string; spec: ChartSpec; kind: 'bar' | 'line'; wide: boolean }[] {
  const strategies = report.strategies;
  const names = strategies.map((s) => s.name);
  const charts: { id: string; spec: ChartSpec; kind: 'bar' | 'line'; wide: boolean }[] = [];
  const perStrategy: [string, string, 'count' | 'bytes', (s: StrategyReport) => number][] = [
    ['queries', 'queries per turn', 'count', (s) => s.perTurn.queries],
    ['round-trips', 'round trips per turn', 'count', (s) => s.perTurn.roundTrips],
    ['bytes', 'wire bytes per turn', 'bytes', (s) => s.perTurn.bytes],
    ['rows', 'rows per turn', 'count', (s) => s.perTurn.rows],
  ];
  for (const [id, title, unit, get] of perStrategy) {
    charts.push({ id: `strategy-${id}`, kind: 'bar', wide: false, spec: { title, categories: names, series: [{ name: title, values: strategies.map(get) }], unit } });
  }
  const sections = [...new Set(strategies.flatMap((s) => s.sections.map((sec) => sec.name)))];
  if (sections.some((n) => n !== null)) {
    charts.push({
      id: 'bytes-by-section',
      kind: 'bar',
      wide: true,
      spec: {
        title: 'wire bytes per turn, by section',
        categories: names,
        series: sections.map((name) => ({
          name: name ?? '(no section)',
          values: strategies.map((s) => s.sections.find((sec) => sec.name === name)?.perTurn.bytes ?? null),
        })),
        unit: 'bytes',
        stacked: true,
        width: 1110,
        height: 300,
      },
    });
  }
  // Per turn, in replay order: each conversation's turns follow one another as its history grows.
  const turns = strategies[0]?.turnDetails.map((t) => t.turn) ?? [];
  if (turns.length > 0 && strategies.every((s) => s.turnDetails.length === turns.length)) {
    for (const [id, title, unit, get] of [
      ['turn-queries', 'queries per turn, turn by turn', 'count', (t: { queries: number }) => t.queries],
      ['turn-bytes', 'wire bytes per turn, turn by turn', 'bytes', (t: { bytes: number }) => t.bytes],
    ] as const) {
      charts.push({
        id,
        kind: 'line',
        wide: true,
        spec: {
          title,
          categories: turns,
          series: strategies.map((s) => ({ name: s.name, values: s.turnDetails.map(get) })),
          unit,
        },
      });
    }
  }
  if (report.latencyByRtt !== undefined && report.latencyByRtt.length > 0) {
    charts.push({
      id: 'latency-by-rtt',
      kind: 'line',
      wide: true,
      spec: {
        title: 'latency p50 by round-trip time (measured through a delay proxy)',
        categories: report.latencyByRtt.map((r) => `${formatNumber(r.rttMs)} ms`),
        series: strategies.map((s) => ({
          name: s.name,
          values: report.latencyByRtt!.map((r) => r.strategies.find((x) => x.name === s.name)?.latencyMs.p50 ?? null),
        })),
        unit: 'ms',
        xName: 'RTT',
      },
    });
  }
  return charts;
}

function chartsSection(report: Report): string {
  const charts = reportCharts(report);
  if (charts.length === 0) return '';
  const figures = charts.map((c) => figure(c.id, c.kind === 'bar' ? barChart(c.spec) : lineChart(c.spec), c.wide));
  return `<h2>Charts</h2>\n<div class="charts">\n${figures.join('\n')}\n</div>`;
}

function findingsSection(report: Report): string {
  const parts = report.strategies.map((s) => {
    if (s.findings.length === 0) return `<h3>${esc(s.name)}</h3><p class="muted">none</p>`;
    const { listed, folded } = foldFindings(s.findings);
    const items = listed.map((f) => {
      const d = describeFinding(f);
      const silenced = f.silenced === undefined ? '' : ` <span class="muted">[silenced: ${esc(f.silenced)}]</span>`;
      const places = describePlaces(f);
      return (
        `<li data-finding="${esc(f.kind)}"><span class="kind">${esc(d.label)}</span>` +
        `${d.perTurn === null ? '' : ` ${esc(d.perTurn)}`} <code>${esc(d.sql)}</code> <span class="muted">(${esc(d.extent)})</span>${silenced}` +
        `${places === null ? '' : `<br><span class="muted" data-places>${esc(places)}</span>`}` +
        `${describeFix(f) === null ? '' : `<br><span class="fix">${esc(describeFix(f)!)}</span>`}</li>`
      );
    });
    if (folded !== null) items.push(`<li><span class="kind">unused columns</span> ${esc(describeFolded(folded))}</li>`);
    return `<h3>${esc(s.name)}</h3><ul>${items.join('\n')}</ul>`;
  });
  return `<h2>Findings</h2>\n${parts.join('\n')}`;
}

function differenceSection(report: Report): string {
  const differing = report.strategies.filter((s) => !s.contextIdentical);
  if (differing.length === 0) return '';
  const base = baselineOf(report);
  const parts = differing.map((s) => {
    const d = differenceOf(s);
    if (d === null) return `<h3>${esc(s.name)}</h3><p>differs (no differing turn recorded)</p>`;
    const lines = d.diff === '' ? ['(no diff recorded)'] : d.diff.split('\n');
    const body = lines
      .map((line) => {
        const cls = line.startsWith('-') && !line.startsWith('---') ? 'del' : line.startsWith('+') && !line.startsWith('+++') ? 'add' : '';
        return cls === '' ? esc(line) : `<span class="${cls}">${esc(line)}</span>`;
      })
      .join('\n');
    return `<h3>${esc(s.name)}: first differs at ${esc(describeTurn(d))}</h3><pre data-diff="${esc(s.name)}">${body}</pre>`;
  });
  return `<h2 class="bad">Context differs from ${esc(base?.name ?? report.baseline)}</h2>\n${parts.join('\n')}`;
}

function gateSection(report: Report): string {
  const lines = gateLines(report);
  if (lines.length === 0) return '';
  const html = lines.map((l) => `<div class="${l.tone}" style="padding-left:${l.depth * 18}px">${esc(l.text)}</div>`);
  return `<h2>Gate</h2>\n<div class="gate">${html.join('\n')}</div>`;
}

function verdict(report: Report): string {
  const budgetFailed = report.budget !== undefined && !report.budget.passed;
  const baselineFailed = report.baselineFile !== undefined && !report.baselineFile.passed;
  const ok = report.contextIdentical && !budgetFailed && !baselineFailed;
  const reasons = [
    report.contextIdentical ? 'context identical' : 'context differs',
    ...(report.budget ? [budgetFailed ? 'over budget' : 'within budget'] : []),
    ...(report.baselineFile ? [baselineFailed ? 'grew beyond the baseline' : 'no figure grew'] : []),
  ];
  return `<span class="verdict ${ok ? 'good' : 'bad'}">${ok ? '✓' : '✗'} ${esc(reasons.join(' · '))}</span>`;
}

/**
 * The report as one self-contained HTML page.
 *
 * @example
 * await writeFile('report.html', renderHtml(report));
 */
export function renderHtml(report: Report): string {
  const comparison = buildComparison(report);
  const body: string[] = [
    `<h1>ctxbench report</h1>`,
    `<p class="sub">${verdict(report)}${esc(comparison.header)}${report.tokenizer ? ` · tokens: ${esc(report.tokenizer)}` : ''}</p>`,
  ];
  if (report.strategies.length === 0) body.push('<p>No strategies were run.</p>');
  else {
    body.push('<h2>Comparison</h2>', comparisonTable(report));
    body.push('<h2>Totals</h2>', totalsTable(report.strategies));
    body.push(gateSection(report), chartsSection(report), findingsSection(report), differenceSection(report));
  }
  if ((report as Partial<Diagnosis>).diagnosis !== undefined) {
    body.push(`<h2>Diagnosis</h2>\n<pre id="diagnosis">${esc(renderDiagnosisText(report as Diagnosis).trim())}</pre>`);
  }
  body.push(`<footer>${esc(report.tool.name)} ${esc(report.tool.version)} · report schema ${report.version}</footer>`);
  return page('ctxbench report', body.filter((b) => b !== '').join('\n'));
}

/**
 * A sweep as one self-contained HTML page: each figure against scale, per strategy.
 *
 * @example
 * await writeFile('sweep.html', renderSweepHtml(result));
 */
export function renderSweepHtml(result: SweepResult): string {
  const names = { queries: 'queries', roundTrips: 'round trips', bytes: 'wire bytes', payloadBytes: 'payload bytes', rows: 'rows' } as const;
  const whole = result.rows.filter((r) => r.section === null);
  const metrics = [...new Set(whole.map((r) => r.metric))];
  const figures = metrics.map((metric) => {
    const rows = whole.filter((r) => r.metric === metric);
    const svg = lineChart({
      title: `${names[metric]} per turn against scale`,
      categories: result.scales,
      series: rows.map((r) => ({ name: r.strategy, values: r.values })),
      unit: metric === 'bytes' || metric === 'payloadBytes' ? 'bytes' : 'count',
      xName: 'scale',
      width: 560,
    });
    return figure(`sweep-${metric}`, svg);
  });
  const growing = result.rows.filter((r) => r.grows);
  const list = growing.map(
    (r) =>
      `<li>${esc(r.strategy)}${r.section ? ` ${esc(r.section)}` : ''} ${esc(names[r.metric])}: ${r.values
        .map((v) => (r.metric === 'bytes' || r.metric === 'payloadBytes' ? formatBytes(v) : formatNumber(v)))
        .join(' → ')}</li>`,
  );
  const body = [
    `<h1>ctxbench sweep</h1>`,
    `<p class="sub">scales ${esc(result.scales.join(', '))}</p>`,
    `<h2>Charts</h2>\n<div class="charts">\n${figures.join('\n')}\n</div>`,
    `<h2>Figures that grow with the data</h2>`,
    growing.length === 0 ? '<p>No figure grows with the data.</p>' : `<ul>${list.join('\n')}</ul>`,
  ];
  return page('ctxbench sweep', body.join('\n'));
}
