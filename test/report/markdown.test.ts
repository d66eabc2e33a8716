import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../src/report/markdown.js';
import { differingReport, twoStrategyReport } from './report-fixture.js';

/** The rows of the first markdown table, split into cells (escaped pipes stay inside a cell). */
function tableRows(markdown: string): string[][] {
  return markdown
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

describe('renderMarkdown', () => {
  it('renders a GitHub table with one column per strategy plus label and change columns', () => {
    const md = renderMarkdown(twoStrategyReport());
    const rows = tableRows(md);
    expect(rows).toHaveLength(2 + 9);
    for (const row of rows) expect(row).toHaveLength(4);
    expect(rows[0]).toEqual(['metric', 'naive', 'optimized', 'optimized vs naive']);
    expect(rows[1]).toEqual([':---', '---:', '---:', '---:']);
    expect(rows[2]).toEqual(['queries/turn', '27.3', '7', '−20.3 (−74%)']);
    expect(rows[10]).toEqual(['context identical', '✓', '✓', 'unchanged']);
  });

  it('lists totals and findings', () => {
    const md = renderMarkdown(twoStrategyReport());
    expect(md).toContain('- naive: 109 queries, 109 round trips, 1,249,600 bytes, 1,160,400 payload bytes, 182 rows over 4 turns');
    expect(md).toContain(
      '  - **N+1** 6× per turn `SELECT * FROM "customers" WHERE "id" = $1` (24 statements in 4 turns, 48.0 kB)',
    );
    expect(md).toContain('  - **SELECT \\*** `SELECT * FROM "website_pages" WHERE "website_id" = $1` (8 statements in 4 turns, 1.1 MB)');
    expect(md).toContain('- `optimized`: none');
  });

  it('puts the first differing turn and its diff in a diff fence', () => {
    const md = renderMarkdown(differingReport());
    for (const row of tableRows(md)) expect(row).toHaveLength(5);
    expect(md).toContain('- `batched`: first differs at conversation `fa-shop-1`, message `k3J9aQ0bZx`');
    expect(md).toContain(['```diff', '--- naive', '+++ batched', '@@ -2,3 +2,3 @@', ' CUSTOMER', '-Price: 19.90', '+Price: 19.9', '', '```'].join('\n'));
  });

  it('escapes pipes in strategy names and has no colour', () => {
    const report = twoStrategyReport();
    report.strategies[1].name = 'a|b';
    const md = renderMarkdown(report);
    // eslint-disable-next-line no-control-regex
    expect(md).not.toMatch(/\u001b\[/);
    for (const row of tableRows(md)) expect(row).toHaveLength(4);
    expect(tableRows(md)[0][2]).toBe('a\\|b');
    expect(md.endsWith('\n')).toBe(true);
  });
});
