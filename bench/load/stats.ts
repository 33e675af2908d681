// Order statistics for latency samples and for the per-round results of a measurement.
// Percentiles use the nearest-rank definition (the smallest sample with at least p% of
// samples at or below it), the one HdrHistogram and wrk report, so figures compare.

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (p <= 0) return sorted[0] as number;
  // The epsilon keeps 99.9% of 1000 at rank 999, not 1000 (99.9 / 100 * 1000 = 999.0000000000001).
  const rank = Math.ceil((p * n) / 100 - 1e-9);
  return sorted[Math.min(n, rank) - 1] as number;
}

/** Summary of unsorted samples (sorted in place). */
export function summarize(samples: Float64Array): LatencySummary {
  samples.sort();
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] as number;
  return {
    count: samples.length,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    p999: percentile(samples, 99.9),
    max: samples.length === 0 ? Number.NaN : (samples[samples.length - 1] as number),
    mean: samples.length === 0 ? Number.NaN : sum / samples.length,
  };
}

/** Median of the finite values (mean of the middle two for an even count); NaN when none. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}
