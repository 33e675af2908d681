// Reading metric values back from a registry: what tests (and the end-to-end checks that
// counters equal the requests sent) use instead of parsing the text format.

import type { Registry } from "prom-client";

export interface Series {
  labels: Record<string, string>;
  value: number;
}

const HISTOGRAM_SUFFIXES = ["_bucket", "_sum", "_count"];

/**
 * Every series of a metric. `name` may be a histogram's `_bucket`, `_sum` or `_count`
 * series name. Returns [] when the metric does not exist.
 */
export async function readSeries(registry: Registry, name: string): Promise<Series[]> {
  let metric = registry.getSingleMetric(name);
  let wantedName = name;
  if (metric === undefined) {
    const suffix = HISTOGRAM_SUFFIXES.find((s) => name.endsWith(s));
    if (suffix === undefined) return [];
    metric = registry.getSingleMetric(name.slice(0, -suffix.length));
    if (metric === undefined) return [];
  } else {
    wantedName = "";
  }
  const data = await metric.get();
  const out: Series[] = [];
  for (const v of data.values as { labels: Record<string, string | number>; value: number; metricName?: string }[]) {
    // A histogram's values carry their series name; keep only the one asked for.
    if (wantedName !== "" && v.metricName !== wantedName) continue;
    if (wantedName === "" && v.metricName !== undefined && v.metricName !== name) continue;
    const labels: Record<string, string> = {};
    for (const [k, val] of Object.entries(v.labels)) labels[k] = String(val);
    out.push({ labels, value: v.value });
  }
  return out;
}

/** The sum of every series of `name` whose labels include all of `labels`. */
export async function readMetric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const series = await readSeries(registry, name);
  let sum = 0;
  for (const s of series) {
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}
