/**
 * `--format html`: one self-contained page. Checked as text (no external reference, under 1 MB,
 * the same figures as the JSON report) and in a real headless Chromium (no console error, no
 * request, the expected number of marks in every chart, the table's numbers equal the JSON's, a
 * screenshot written).
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare } from '../../src/commands/compare.js';
import { renderHtml, reportCharts, renderSweepHtml } from '../../src/report/html.js';
import type { Report } from '../../src/report/model.js';
import { buildComparison, formatNumber } from '../../src/report/table.js';
import { naiveStrategy, optimizedStrategy } from '../../src/index.js';
import { testCacheDir } from '../support/backends.js';
import { CHROMIUM_ARGS, browserSkipReason, chromiumPath } from '../support/browser.js';
import { runInProcess as run } from '../support/cli.js';
import { differingReport } from './report-fixture.js';

let report: Report;
let dir: string;

beforeAll(async () => {
  report = await compare({
    strategies: [naiveStrategy, optimizedStrategy],
    scale: 'tiny',
    conversations: ['en-first-1', 'fa-shop-1'],
    cacheDir: testCacheDir,
    rtt: [0, 1],
  });
  dir = await mkdtemp(path.join(os.tmpdir(), 'ctxbench-html-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What a chart must show, derived from the report, not from the page. */
function expectedMarks(r: Report): Record<string, number> {
  const n = r.strategies.length;
  const turns = r.strategies[0]!.turnDetails.length;
  const sectionBars = r.strategies.reduce((a, s) => a + s.sections.length, 0);
  return {
    'strategy-queries': n,
    'strategy-round-trips': n,
    'strategy-bytes': n,
    'strategy-rows': n,
    'bytes-by-section': sectionBars,
    'turn-queries': n * turns,
    'turn-bytes': n * turns,
    'latency-by-rtt': n * (r.latencyByRtt?.length ?? 0),
  };
}

describe('renderHtml, as text', () => {
  it('references nothing outside itself and stays under 1 MB', () => {
    const html = renderHtml(report);
    expect(Buffer.byteLength(html)).toBeLessThan(1_000_000);
    // Namespaces in SVG are names, not requests; nothing else may name a URL or load a file.
    const withoutNamespaces = html.replace(/xmlns(:\w+)?="http:\/\/www\.w3\.org\/[^"]+"/g, '');
    expect(withoutNamespaces).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<(script|link|img|iframe)\b/i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    // url(#id) names a clip path inside the same SVG; any other url( would load something.
    expect(html).not.toMatch(/url\((?!#)|@import/i);
    expect(html).toContain(`Content-Security-Policy" content="default-src 'none'`);
  });

  it('has every chart the report calls for, with the expected marks (data marks, not legend items)', () => {
    const html = renderHtml(report);
    const expected = expectedMarks(report);
    expect(reportCharts(report).map((c) => c.id)).toEqual(Object.keys(expected));
    for (const [id, marks] of Object.entries(expected)) {
      const figure = new RegExp(`<figure data-chart="${id}"[^>]*>([\\s\\S]*?)</figure>`).exec(html);
      expect(figure, id).not.toBeNull();
      expect(figure![1]!.match(/ecmeta_ssr_type="chart"/g)?.length ?? 0, id).toBe(marks);
    }
  });

  it('escapes what it shows and includes a differing prompt diff', () => {
    const r = differingReport();
    r.strategies[2]!.name = '<b>mine</b>';
    const html = renderHtml(r);
    expect(html).toContain('&lt;b&gt;mine&lt;/b&gt;');
    expect(html).not.toContain('<b>mine</b>');
    expect(html).toMatch(/<pre data-diff="&lt;b&gt;mine&lt;\/b&gt;">[\s\S]*<span class="del">-/);
  });

  it("diagnose's page shows its plan flags and server view, from the report it is given (redacted stays redacted)", () => {
    const d = {
      ...differingReport(),
      diagnosis: {
        interrupted: false,
        redacted: true,
        settings: { jit: 'on' },
        statStatements: { available: false, reason: 'pg_stat_statements is not installed' },
        explain: {
          analyze: false,
          results: [
            {
              fingerprint: 'select * from "faqs" where "user_id" = $1',
              sql: 'select * from "faqs" where "user_id" = $1',
              planRoot: { 'Node Type': 'Seq Scan', 'Relation Name': 'faqs' },
              totalCost: 120,
              planRows: 40,
              flags: [{ kind: 'filter-without-index', relation: 'faqs', filter: '(user_id = $1)', estimatedRows: 5000, columns: ['user_id'], message: 'Seq Scan on faqs filters on user_id, which no index leads' }],
            },
          ],
        },
      },
    } as unknown as Report;
    const html = renderHtml(d);
    expect(html).toContain('<h2>Diagnosis</h2>');
    expect(html).toContain('✗ Seq Scan on faqs filters on user_id, which no index leads');
    expect(html).toContain('not available: pg_stat_statements is not installed');
    expect(html).toContain('Parameters, SQL literals and prompt text are hidden');
  });

  it('sweep pages chart each figure against scale', () => {
    const html = renderSweepHtml({
      scales: ['tiny', 'default'],
      reports: [],
      rows: [
        { strategy: 'naive', section: null, metric: 'queries', values: [20, 22], grows: false },
        { strategy: 'optimized', section: null, metric: 'queries', values: [6, 6], grows: false },
        { strategy: 'naive', section: null, metric: 'bytes', values: [100_000, 400_000], grows: true },
        { strategy: 'optimized', section: null, metric: 'bytes', values: [13_000, 13_000], grows: false },
      ],
    });
    for (const id of ['sweep-queries', 'sweep-bytes']) {
      const figure = new RegExp(`<figure data-chart="${id}"[^>]*>([\\s\\S]*?)</figure>`).exec(html);
      expect(figure![1]!.match(/ecmeta_ssr_type="chart"/g)?.length).toBe(4);
    }
    expect(html).toContain('<li>naive wire bytes: 100.0 kB → 400.0 kB</li>');
  });

  it('--format html from the CLI on compare and check', async () => {
    const out = path.join(dir, 'cli.html');
    const r = await run(['compare', '--scale', 'tiny', '--conversation', 'en-first-1', '--format', 'html', '--output', out]);
    expect(r.code).toBe(0);
    const html = await readFile(out, 'utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<figure data-chart="turn-bytes"');
    const check = await run(['check', '--scale', 'tiny', '--conversation', 'en-first-1', '--strategies', 'optimized', '--max-queries', '1', '--format', 'html']);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain('<h2>Gate</h2>');
    expect(check.stdout).toContain('over budget');
  });
});

const skip = browserSkipReason();
if (skip) console.log(`skipped: HTML report in a browser: ${skip}`);

describe.skipIf(skip !== null)('the HTML report in headless Chromium', () => {
  it('renders with no console error and no request; marks and numbers match the JSON report', async () => {
    const { chromium } = await import('playwright-core');
    const file = path.join(dir, 'report.html');
    await writeFile(file, renderHtml(report));
    const browser = await chromium.launch({ executablePath: chromiumPath()!, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1480 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (req) => requests.push(req.url()));
      const url = pathToFileURL(file).href;
      await page.goto(url, { waitUntil: 'load' });
      expect(errors).toEqual([]);
      // The page itself is the only thing loaded.
      expect(requests).toEqual([url]);

      const marks = await page.$$eval('figure[data-chart]', (figures) =>
        Object.fromEntries(figures.map((f) => [f.getAttribute('data-chart'), f.querySelectorAll('[ecmeta_ssr_type="chart"]').length])),
      );
      expect(marks).toEqual(expectedMarks(report));
      // Every chart is drawn at a visible size.
      const sizes = await page.$$eval('figure[data-chart] svg', (svgs) => svgs.map((s) => s.getBoundingClientRect().width));
      for (const w of sizes) expect(w).toBeGreaterThan(200);

      // The totals are the JSON report's exact figures.
      const totals = await page.$$eval('#totals tbody tr', (rows) =>
        rows.map((r) => ({
          name: r.getAttribute('data-strategy'),
          cells: Object.fromEntries([...r.querySelectorAll('td[data-metric]')].map((c) => [c.getAttribute('data-metric'), [c.getAttribute('data-value'), c.textContent]])),
        })),
      );
      const json = JSON.parse(JSON.stringify(report)) as Report;
      expect(totals.map((t) => t.name)).toEqual(json.strategies.map((s) => s.name));
      for (const [i, s] of json.strategies.entries()) {
        for (const key of ['queries', 'roundTrips', 'bytes', 'payloadBytes', 'rows', 'promptTokens'] as const) {
          expect(totals[i]!.cells[key]).toEqual([String(s.totals[key]), formatNumber(s.totals[key]!)]);
        }
      }
      // The comparison table shows what the terminal table shows, cell for cell.
      const shown = await page.$$eval('#comparison tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((c) => c.textContent)));
      const comparison = buildComparison(json);
      expect(shown).toEqual(comparison.rows.map((row) => [row.label, ...row.cells.map((c) => c.text), ...(row.change ? [row.change.text] : [])]));
      expect(shown.find((r) => r[0] === 'queries/turn')!.slice(1, 3)).toEqual(json.strategies.map((s) => formatNumber(s.perTurn.queries)));

      // The whole page, and its top (table, totals, first charts): the README's picture comes from
      // a run with CTXBENCH_SCREENSHOT_DIR=docs/images.
      const shotDir = process.env.CTXBENCH_SCREENSHOT_DIR || dir;
      const full = path.join(dir, 'report-full.png');
      await page.screenshot({ path: full, fullPage: true });
      expect((await stat(full)).size).toBeGreaterThan(10_000);
      const top = path.join(shotDir, 'report.png');
      await page.screenshot({ path: top, clip: { x: 0, y: 0, width: 1280, height: 1480 } });
      expect((await stat(top)).size).toBeGreaterThan(10_000);
    } finally {
      await browser.close();
    }
  });
});
