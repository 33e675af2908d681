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

/**
 * A distribution-free confidence interval for the median: the order statistics x(k) and
 * x(n+1-k) with the largest k for which a Binomial(n, 1/2) falls below k with probability at
 * most (1 - level) / 2. Needs no assumption about the shape of a noisy machine's spread; with
 * fewer than 6 values there is no 95% interval of this kind, and the whole range is returned.
 */
export function medianInterval(values: readonly number[], level = 0.95): { low: number; high: number; exact: boolean } {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return { low: Number.NaN, high: Number.NaN, exact: false };
  const tail = (1 - level) / 2;
  // P(X <= j) for X ~ Binomial(n, 1/2), accumulated term by term.
  let term = 0.5 ** n;
  let below = 0;
  let k = 0;
  for (let j = 0; j < n; j++) {
    below += term;
    if (below > tail) break;
    k = j + 1;
    term = (term * (n - j)) / (j + 1);
  }
  if (k === 0) return { low: v[0] as number, high: v[n - 1] as number, exact: false };
  return { low: v[k - 1] as number, high: v[n - k] as number, exact: true };
}
