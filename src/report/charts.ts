/**
 * Charts for the HTML report, drawn by ECharts' server-side renderer into static SVG at report
 * time: the page needs no script and makes no request. Every data mark carries ECharts'
 * `ecmeta_series_index` / `ecmeta_data_index` attributes, which is how tests count them.
 * Loaded only by the HTML format: ECharts takes a while to import.
 */
import * as echarts from 'echarts';

/** How a chart's values read: counts, bytes (base 1000) or milliseconds. */
export type ChartUnit = 'count' | 'bytes' | 'ms';

/** One named series of values (null: no value at that point). */
export interface ChartSeries {
  name: string;
  values: (number | null)[];
}

/** A chart: its title, the categories along x, and one series per strategy (or section). */
export interface ChartSpec {
  title: string;
  /** Category labels along the x axis. */
  categories: string[];
  series: ChartSeries[];
  unit: ChartUnit;
  /** Bars stacked per category (bytes by section), else side by side. */
  stacked?: boolean;
  /** Name of the x axis, when the categories need one (`turn`, `RTT`, `scale`). */
  xName?: string;
  width?: number;
  height?: number;
}

/** Colours that stay apart for up to eight series, and print legibly. */
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1', '#edc948', '#9c755f'];

function axisLabel(unit: ChartUnit): (value: number) => string {
  if (unit === 'bytes') {
    return (v) => {
      const abs = Math.abs(v);
      if (abs >= 1e9) return `${+(v / 1e9).toFixed(1)} GB`;
      if (abs >= 1e6) return `${+(v / 1e6).toFixed(1)} MB`;
      if (abs >= 1e3) return `${+(v / 1e3).toFixed(1)} kB`;
      return `${v} B`;
    };
  }
  if (unit === 'ms') return (v) => `${+v.toFixed(2)} ms`;
  return (v) => `${+v.toFixed(1)}`;
}

function render(option: echarts.EChartsCoreOption, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption(option);
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

function baseOption(spec: ChartSpec): echarts.EChartsCoreOption {
  return {
    animation: false,
    color: PALETTE,
    textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' },
    title: { text: spec.title, left: 'center', top: 4, textStyle: { fontSize: 14, fontWeight: 600 } },
    legend: spec.series.length > 1 ? { top: 28, left: 'center', type: 'plain' } : undefined,
    grid: { left: 16, right: 24, top: spec.series.length > 1 ? 64 : 40, bottom: spec.xName ? 30 : 12, containLabel: true },
    xAxis: {
      type: 'category',
      data: spec.categories,
      name: spec.xName,
      nameLocation: 'middle',
      nameGap: spec.categories.some((c) => c.length > 12) ? 80 : 26,
      // Long category labels (turns) slant so that more of them fit.
      axisLabel: { hideOverlap: true, rotate: spec.categories.some((c) => c.length > 12) ? 30 : 0 },
    },
    yAxis: { type: 'value', axisLabel: { formatter: axisLabel(spec.unit) } },
  };
}

/**
 * Bars: one per category and series (side by side, or stacked per category).
 *
 * @example
 * const svg = barChart({ title: 'queries/turn', categories: ['naive', 'optimized'], series: [{ name: 'queries', values: [21.9, 6.6] }], unit: 'count' });
 */
export function barChart(spec: ChartSpec): string {
  return render(
    {
      ...baseOption(spec),
      series: spec.series.map((s) => ({
        type: 'bar',
        name: s.name,
        data: s.values,
        stack: spec.stacked ? 'total' : undefined,
        barMaxWidth: 56,
        // One colour per bar when each category is a strategy of its own.
        colorBy: spec.series.length === 1 ? 'data' : 'series',
      })),
    },
    spec.width ?? 256,
    spec.height ?? 240,
  );
}

/**
 * Lines with a symbol on every point (a point per category and series).
 *
 * @example
 * const svg = lineChart({ title: 'latency p50 by RTT', categories: ['0 ms', '2 ms'], series: [{ name: 'naive', values: [3.1, 64] }], unit: 'ms', xName: 'RTT' });
 */
export function lineChart(spec: ChartSpec): string {
  return render(
    {
      ...baseOption(spec),
      series: spec.series.map((s) => ({
        type: 'line',
        name: s.name,
        data: s.values,
        showSymbol: true,
        showAllSymbol: true,
        symbolSize: 6,
        connectNulls: false,
      })),
    },
    spec.width ?? 1110,
    spec.height ?? 320,
  );
}
