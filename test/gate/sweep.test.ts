import { describe, expect, it } from 'vitest';
import { growsWithData, sweep } from '../../src/commands/sweep.js';
import { naiveStrategy } from '../../src/core/strategies/naive-strategy.js';
import { optimizedStrategy } from '../../src/core/strategies/optimized-strategy.js';
import { renderSweepTable } from '../../src/report/sweep.js';
import { renderSweepHtml } from '../../src/report/html.js';
import { testCacheDir } from '../support/backends.js';

describe('sweep', () => {
  it('the growth rule: rising at every step and by at least 25% overall', () => {
    expect(growsWithData([1, 2, 3])).toBe(true);
    expect(growsWithData([100, 110, 124])).toBe(false);
    expect(growsWithData([100, 200, 150])).toBe(false);
    expect(growsWithData([5, 5])).toBe(false);
  });

  it("flags naive's FAQ bytes as growing with the data and optimized's as flat", async () => {
    const result = await sweep({
      scales: ['tiny', 'default'],
      strategies: [naiveStrategy, optimizedStrategy],
      conversations: ['en-first-1'],
      cacheDir: testCacheDir,
    });
    const row = (strategy: string, section: string | null, metric: string) =>
      result.rows.find((r) => r.strategy === strategy && r.section === section && r.metric === metric)!;
    expect(row('naive', 'faqs', 'bytes').grows).toBe(true);
    expect(row('naive', 'faqs', 'rows').grows).toBe(true);
    expect(row('optimized', 'faqs', 'bytes').grows).toBe(false);
    expect(row('optimized', 'faqs', 'rows').values).toEqual([8, 8]);
    // Query counts do not depend on the data for either strategy.
    expect(row('naive', null, 'queries').values).toEqual([24, 24]);
    expect(row('optimized', null, 'queries').values).toEqual([7, 7]);
    expect(result.rows.filter((r) => r.strategy === 'optimized' && r.grows)).toEqual([]);
    const text = renderSweepTable(result, { color: false });
    expect(text).toMatch(/naive\s+│ faqs\s+│ bytes\s+│.*│ grows ×\d/);
    // The HTML page: one chart per figure, a point per strategy and scale, and the growing figures listed.
    const html = renderSweepHtml(result);
    const metrics = [...new Set(result.rows.filter((r) => r.section === null).map((r) => r.metric))];
    for (const metric of metrics) {
      const figure = new RegExp(`<figure data-chart="sweep-${metric}"[^>]*>([\\s\\S]*?)</figure>`).exec(html);
      expect(figure![1]!.match(/ecmeta_ssr_type="chart"/g)?.length, metric).toBe(2 * 2);
    }
    expect(html).toMatch(/<li>naive faqs wire bytes: [^<]+ → [^<]+<\/li>/);
  });
});
