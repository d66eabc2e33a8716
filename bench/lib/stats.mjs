/**
 * Small statistics helpers for the benchmarks: medians and rounding. Every figure the
 * benchmarks report is a median of repeated samples (never a mean: one GC pause or scheduler
 * hiccup must not move it).
 */

/** The median of `values` (the mean of the middle two for an even count); NaN when empty. */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The `p`-th percentile (0..100), nearest rank. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** `value` rounded to `digits` decimals (numbers in the JSON stay readable). */
export function round(value, digits = 3) {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** a / b rounded, or null when b is not a positive number. */
export function ratio(a, b, digits = 3) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? round(a / b, digits) : null;
}
