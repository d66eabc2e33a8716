import { describe, expect, it } from 'vitest';
import { formatBytes, formatMs, formatNumber, renderTable } from '../../src/report/table.js';
import { differingReport, twoStrategyReport } from './report-fixture.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/;

describe('renderTable', () => {
  it('renders a two-strategy report exactly', () => {
    expect(renderTable(twoStrategyReport(), { color: false })).toBe(
      [
        'ctxbench 0.1.0 · pglite, PostgreSQL 17.5 · dataset tiny (seed 42) · 4 turns · repeat 5',
        '┌────────────────────┬──────────┬───────────┬────────────────────┐',
        '│                    │    naive │ optimized │ optimized vs naive │',
        '├────────────────────┼──────────┼───────────┼────────────────────┤',
        '│ queries/turn       │     27.3 │         7 │       −20.3 (−74%) │',
        '│ round trips/turn   │     27.3 │         7 │       −20.3 (−74%) │',
        '│ bytes/turn (wire)  │ 312.4 kB │   28.0 kB │   −284.4 kB (−91%) │',
        '│ payload bytes/turn │ 290.1 kB │   21.0 kB │   −269.1 kB (−93%) │',
        '│ rows/turn          │     45.5 │        40 │        −5.5 (−12%) │',
        '│ latency p50        │  3.10 ms │   1.00 ms │        3.1× faster │',
        '│ latency p95        │  4.25 ms │   1.50 ms │        2.8× faster │',
        '│ prompt bytes       │   8.2 kB │    8.2 kB │               ±0 B │',
        '│ context identical  │        ✓ │         ✓ │          unchanged │',
        '└────────────────────┴──────────┴───────────┴────────────────────┘',
        '',
        'Totals',
        '  naive: 109 queries, 109 round trips, 1,249,600 bytes, 1,160,400 payload bytes, 182 rows over 4 turns',
        '  optimized: 28 queries, 28 round trips, 112,000 bytes, 84,000 payload bytes, 160 rows over 4 turns',
        '',
        'Findings',
        '  naive',
        '    N+1: 6× per turn  SELECT * FROM "customers" WHERE "id" = $1  (24 statements in 4 turns, 48.0 kB)',
        '    SELECT *: SELECT * FROM "website_pages" WHERE "website_id" = $1  (8 statements in 4 turns, 1.1 MB)',
        '  optimized: none',
        '',
      ].join('\n'),
    );
  });

  it('has no ANSI escapes without colour, some with colour, and no trailing blanks either way', () => {
    for (const report of [twoStrategyReport(), differingReport()]) {
      const plain = renderTable(report, { color: false });
      const coloured = renderTable(report, { color: true });
      expect(plain).not.toMatch(ANSI);
      expect(coloured).toMatch(ANSI);
      for (const text of [plain, coloured]) {
        // eslint-disable-next-line no-control-regex
        const lines = text.replace(/\u001b\[[0-9;]*m/g, '').split('\n');
        expect(lines.filter((l) => /[ \t]$/.test(l))).toEqual([]);
      }
    }
  });

  it('colours improvements green and regressions red', () => {
    const report = twoStrategyReport();
    report.strategies[1].perTurn.rows = 60;
    const text = renderTable(report, { color: true });
    expect(text).toContain('\u001b[32m−20.3 (−74%)\u001b[39m');
    expect(text).toContain('\u001b[31m+14.5 (+32%)\u001b[39m');
    expect(text).toContain('\u001b[32m3.1× faster\u001b[39m');
  });

  it('compares the last strategy with the baseline and shows where the context differs', () => {
    const text = renderTable(differingReport(), { color: false });
    expect(text).toContain('│                    │    naive │ optimized │   batched │ batched vs naive │');
    expect(text).toContain('│ queries/turn       │     27.3 │         7 │         1 │     −26.3 (−96%) │');
    expect(text).toContain('│ context identical  │        ✓ │         ✓ │ ✗ differs │          differs │');
    expect(text).toContain(
      [
        'Context differs from naive',
        '  batched: first differs at conversation fa-shop-1, message k3J9aQ0bZx',
        '    --- naive',
        '    +++ batched',
        '    @@ -2,3 +2,3 @@',
        '     CUSTOMER',
        '    -Price: 19.90',
        '    +Price: 19.9',
        '',
      ].join('\n'),
    );
  });

  it('has no change column for a single strategy', () => {
    const report = twoStrategyReport();
    report.strategies.pop();
    const text = renderTable(report, { color: false });
    expect(text).toContain('│ queries/turn       │     27.3 │\n');
    expect(text).not.toContain(' vs ');
  });

  it('shows a PostgreSQL URL and a missing dataset in the header', () => {
    const report = twoStrategyReport();
    report.database = { kind: 'postgres', serverVersion: '15.4 (Debian 15.4-1.pgdg120+1)', url: 'postgres://app:***@db:5432/app' };
    report.dataset = null;
    const [header] = renderTable(report, { color: false }).split('\n');
    expect(header).toBe(
      'ctxbench 0.1.0 · postgres, PostgreSQL 15.4 (Debian 15.4-1.pgdg120+1) (postgres://app:***@db:5432/app) · 4 turns · repeat 5',
    );
  });
});

describe('number formats', () => {
  it.each([
    [0, '0'],
    [7, '7'],
    [27.25, '27.3'],
    [3456789, '3,456,789'],
    [1234.56, '1,234.6'],
  ])('formatNumber(%s) = %s', (n, s) => expect(formatNumber(n)).toBe(s));

  it.each([
    [0, '0 B'],
    [512, '512 B'],
    [999, '999 B'],
    [1000, '1.0 kB'],
    [312_400, '312.4 kB'],
    [999_960, '1.0 MB'],
    [3_456_789, '3.5 MB'],
    [2_000_000_000, '2.0 GB'],
  ])('formatBytes(%s) = %s', (n, s) => expect(formatBytes(n)).toBe(s));

  it.each([
    [0.8123, '0.812 ms'],
    [3.1, '3.10 ms'],
    [64.25, '64.3 ms'],
    [512.4, '512 ms'],
    [20_345, '20.3 s'],
  ])('formatMs(%s) = %s', (n, s) => expect(formatMs(n)).toBe(s));
});
