/**
 * Where a finding's statements came from — call sites and sqlcommenter tag groups — on one line
 * under the finding, in the table, markdown and HTML reports; nothing when neither is known.
 */
import { describe, expect, it } from 'vitest';
import { renderHtml } from '../../src/report/html.js';
import { renderMarkdown } from '../../src/report/markdown.js';
import { describePlaces, renderTable } from '../../src/report/table.js';
import { twoStrategyReport } from './report-fixture.js';

function placedReport() {
  const report = twoStrategyReport();
  const [first] = report.strategies[0]!.findings;
  first!.callSites = ['src/build.ts:12', 'src/repo.ts:40'];
  first!.tags = [
    { controller: 'orders', route: '/orders' },
    { controller: 'customers', route: '/customers' },
  ];
  return report;
}

describe('describePlaces', () => {
  it('joins call sites and tag groups, and is null without either', () => {
    const [f] = placedReport().strategies[0]!.findings;
    expect(describePlaces(f!)).toBe(
      'at src/build.ts:12, src/repo.ts:40 · in controller=orders route=/orders; controller=customers route=/customers',
    );
    expect(describePlaces({ ...f!, tags: undefined })).toBe('at src/build.ts:12, src/repo.ts:40');
    expect(describePlaces({ ...f!, callSites: undefined })).toBe(
      'in controller=orders route=/orders; controller=customers route=/customers',
    );
    expect(describePlaces({ ...f!, callSites: [], tags: undefined })).toBeNull();
  });
});

describe('findings with their places', () => {
  const line = 'at src/build.ts:12, src/repo.ts:40 · in controller=orders route=/orders; controller=customers route=/customers';

  it('table: one indented line under the finding, and none for findings without places', () => {
    const lines = renderTable(placedReport(), { color: false }).split('\n');
    const at = lines.indexOf(`      ${line}`);
    expect(at).toBeGreaterThan(0);
    expect(lines[at - 1]).toMatch(/^ {4}N\+1: /);
    expect(lines.filter((l) => l.startsWith('      at ') || l.startsWith('      in '))).toHaveLength(1);
    expect(renderTable(twoStrategyReport(), { color: false })).not.toContain(' · in ');
  });

  it("markdown: a code line continuing the finding's item", () => {
    const lines = renderMarkdown(placedReport()).split('\n');
    const at = lines.indexOf(`    \`${line}\``);
    expect(at).toBeGreaterThan(0);
    expect(lines[at - 1]).toMatch(/^ {2}- \*\*N\+1\*\*/);
  });

  it("HTML: inside the finding's item, escaped", () => {
    expect(renderHtml(placedReport())).toContain(`<br><span class="muted" data-places>${line}</span></li>`);
    expect(renderHtml(twoStrategyReport())).not.toContain('data-places');
    const hostile = placedReport();
    hostile.strategies[0]!.findings[0]!.tags = [{ route: '<script>' }];
    expect(renderHtml(hostile)).toContain('in route=&lt;script&gt;</span>');
  });
});
