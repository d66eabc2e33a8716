/**
 * `sweep`: the same turns at several dataset scales, to see which figures grow with the data
 * (what n_plus_one_control asserts, as a table). A context builder whose per-turn cost grows
 * with the tenant's data will not survive production; one that stays flat will.
 */
import { METRICS, type Metric } from '../core/budget.js';
import type { Figures, Report } from '../report/model.js';
import { compare, type CompareOptions } from './compare.js';

/** Options of {@link sweep}. */
export interface SweepOptions extends Omit<CompareOptions, 'scale' | 'url' | 'setup' | 'turns'> {
  /** Scales to seed and measure, smallest first (presets or multipliers). */
  scales: string[];
  /** Called before each scale is measured. */
  onScale?: (scale: string, index: number, count: number) => void;
}

/** One figure across the scales. */
export interface SweepRow {
  strategy: string;
  /** null: the whole turn; else one section. */
  section: string | null;
  metric: Metric;
  /** Mean per turn at each scale, in the order of `scales`. */
  values: number[];
  /** True when the figure rises at every step and ends at least 25% above where it started. */
  grows: boolean;
}

/** The sweep's result. */
export interface SweepResult {
  scales: string[];
  rows: SweepRow[];
  reports: Report[];
}

/** The rule for "grows with the data": rising at every step, and by at least this factor overall. */
export const GROWTH_FACTOR = 1.25;

/** Whether a series grows with the data (see {@link GROWTH_FACTOR}). */
export function growsWithData(values: readonly number[]): boolean {
  if (values.length < 2) return false;
  for (let i = 1; i < values.length; i++) if (!(values[i]! > values[i - 1]!)) return false;
  return values.at(-1)! >= GROWTH_FACTOR * values[0]!;
}

/**
 * @example
 * const { rows } = await sweep({ scales: ['tiny', 'default'], strategies: [naiveStrategy, optimizedStrategy] });
 * rows.filter((r) => r.grows)
 */
export async function sweep(options: SweepOptions): Promise<SweepResult> {
  const { scales, onScale, ...rest } = options;
  const reports: Report[] = [];
  for (const [i, scale] of scales.entries()) {
    onScale?.(scale, i, scales.length);
    reports.push(await compare({ ...rest, scale }));
  }
  return { scales, rows: sweepRows(reports), reports };
}

/**
 * One row per strategy × section × metric from the reports of each scale, in scale order
 * (exported for `merge`, which joins sharded sweeps scale by scale).
 *
 * @example
 * const rows = sweepRows([tinyReport, defaultReport]);
 */
export function sweepRows(reports: readonly Report[]): SweepRow[] {
  const rows: SweepRow[] = [];
  const first = reports[0]!;
  for (const strategy of first.strategies) {
    const sections: (string | null)[] = [null, ...strategy.sections.map((s) => s.name).filter((n): n is string => n !== null)];
    for (const section of sections) {
      for (const metric of METRICS) {
        const values = reports.map((r) => {
          const s = r.strategies.find((x) => x.name === strategy.name)!;
          const figures: Figures | undefined = section === null ? s.perTurn : s.sections.find((x) => x.name === section)?.perTurn;
          return figures?.[metric] ?? 0;
        });
        rows.push({ strategy: strategy.name, section, metric, values, grows: growsWithData(values) });
      }
    }
  }
  return rows;
}
