// From runs to results: the median of each metric over the interleaved rounds, the cost per
// 1,000 rps, and the comparisons the issue asks for (to direct and to HAProxy on the same
// topology, loopback against loopback).

import type { TargetName } from "./env/bench-env.js";
import type { Run } from "./measure.js";
import type { Cell } from "./plan.js";
import { median, medianInterval, ratio } from "./stats.js";

export interface TargetSummary {
  rounds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Service time p99 (open loop only), ms. */
  serviceP99: number | null;
  /** Generator's own lateness p99 (open loop only), ms. */
  sendLagP99: number | null;
  /** Summed over rounds. */
  errors: number;
  denied: number;
  requests: number;
  /** CPU seconds per wall second (1 = one core busy); null for direct. */
  vcpu: number | null;
  vcpuPer1kRps: number | null;
  peakRssMb: number | null;
  rssMbPer1kRps: number | null;
  /** Summed over rounds: connections the accept queues dropped (ListenOverflows + ListenDrops, every namespace); null when not read. */
  listenDrops: number | null;
  /** Summed over rounds: SYNs sent again (TCPSynRetrans): each costs its connection about a second. */
  synRetrans: number | null;
}

export interface Comparison {
  /** Throughput cells: rps / reference rps. Latency cells: p99 / reference p99. */
  vsDirect: number;
  vsHaproxy: number;
  /** p99 minus the direct p99 (ms). */
  addedP99: number;
}

export interface CellResult {
  cell: Cell;
  runs: Run[];
  summary: Partial<Record<TargetName, TargetSummary>>;
  comparison: Partial<Record<TargetName, Comparison>>;
}

const MB = 1024 * 1024;

export function summarizeRuns(runs: readonly Run[]): TargetSummary {
  const m = (f: (r: Run) => number | null | undefined): number => median(runs.map((r) => f(r) ?? Number.NaN));
  const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null);
  const rps = m((r) => r.rps);
  const vcpu = orNull(m((r) => (r.cpuSeconds === null ? null : r.cpuSeconds / r.wallSeconds)));
  const rss = orNull(m((r) => (r.peakRssBytes === null ? null : r.peakRssBytes / MB)));
  const per1k = (x: number | null): number | null => (x === null || !(rps > 0) ? null : x / (rps / 1000));
  return {
    rounds: runs.length,
    rps,
    p50: m((r) => r.latency.p50),
    p90: m((r) => r.latency.p90),
    p99: m((r) => r.latency.p99),
    p999: m((r) => r.latency.p999),
    max: m((r) => r.latency.max),
    serviceP99: orNull(m((r) => r.service?.p99)),
    sendLagP99: orNull(m((r) => r.sendLagP99)),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    denied: runs.reduce((a, r) => a + r.denied, 0),
    requests: runs.reduce((a, r) => a + r.requests, 0),
    vcpu,
    vcpuPer1kRps: per1k(vcpu),
    peakRssMb: rss,
    rssMbPer1kRps: per1k(rss),
    listenDrops: sumOrNull(runs, (t) => t.ListenOverflows + t.ListenDrops),
    synRetrans: sumOrNull(runs, (t) => t.TCPSynRetrans),
  };
}

function sumOrNull(runs: readonly Run[], f: (t: NonNullable<Run["tcp"]>) => number): number | null {
  const read = runs.filter((r) => r.tcp !== null && r.tcp !== undefined);
  return read.length === 0 ? null : read.reduce((a, r) => a + f(r.tcp!), 0);
}

export function referenceTargets(cell: Cell): { direct: TargetName; haproxy: TargetName } {
  return cell.loopback ? { direct: "direct-lo", haproxy: "haproxy-lo" } : { direct: "direct", haproxy: "haproxy" };
}

export function cellResult(cell: Cell, runs: readonly Run[]): CellResult {
  const summary: CellResult["summary"] = {};
  for (const t of cell.targets) {
    const mine = runs.filter((r) => r.target === t);
    if (mine.length > 0) summary[t] = summarizeRuns(mine);
  }
  const ref = referenceTargets(cell);
  const d = summary[ref.direct];
  const h = summary[ref.haproxy];
  const comparison: CellResult["comparison"] = {};
  for (const [t, s] of Object.entries(summary) as Array<[TargetName, TargetSummary]>) {
    const metric = (x: TargetSummary | undefined): number | undefined => (x === undefined ? undefined : cell.kind === "throughput" ? x.rps : x.p99);
    comparison[t] = {
      vsDirect: ratio(metric(s), metric(d)),
      vsHaproxy: ratio(metric(s), metric(h)),
      addedP99: d === undefined ? Number.NaN : s.p99 - d.p99,
    };
  }
  return { cell, runs: [...runs], summary, comparison };
}

/** One proxy's telemetry cost against `--no-telemetry`, from rounds run side by side. */
export interface TelemetryCost {
  target: TargetName;
  baseline: TargetName;
  /** Per round: rps with telemetry / rps without, both from the same round. */
  rpsRatios: number[];
  /** Per round: CPU seconds per request with telemetry / without. */
  cpuRatios: number[];
  rpsRatio: number;
  /** Distribution-free 95% interval of the median ratio (the whole range under 6 rounds). */
  interval: { low: number; high: number; exact: boolean };
  cpuRatio: number;
}

/** The paired per-round ratios of `target` against `baseline` in one cell's runs. */
export function telemetryCost(runs: readonly Run[], target: TargetName, baseline: TargetName): TelemetryCost | null {
  return pairedCost(pairsOf(runs, target, baseline), target, baseline);
}

type Pair = [on: Run, off: Run];

function pairsOf(runs: readonly Run[], target: TargetName, baseline: TargetName): Pair[] {
  const pairs: Pair[] = [];
  for (const on of runs) {
    if (on.target !== target) continue;
    const off = runs.find((r) => r.target === baseline && r.round === on.round);
    if (off !== undefined) pairs.push([on, off]);
  }
  return pairs;
}

function pairedCost(pairs: readonly Pair[], target: TargetName, baseline: TargetName): TelemetryCost | null {
  if (pairs.length === 0) return null;
  const perRequest = (r: Run): number => (r.cpuSeconds === null || r.requests === 0 ? Number.NaN : r.cpuSeconds / r.requests);
  const rpsRatios = pairs.map(([on, off]) => ratio(on.rps, off.rps));
  const cpuRatios = pairs.map(([on, off]) => ratio(perRequest(on), perRequest(off)));
  return { target, baseline, rpsRatios, cpuRatios, rpsRatio: median(rpsRatios), interval: medianInterval(rpsRatios), cpuRatio: median(cpuRatios) };
}

/** The bound: throughput with telemetry at least 95% of throughput without. */
export const TELEMETRY_COST_BOUND = 0.95;

export function telemetryVerdict(c: TelemetryCost): string {
  if (c.interval.exact && c.interval.low >= TELEMETRY_COST_BOUND) return "within 5%";
  if (c.rpsRatio >= TELEMETRY_COST_BOUND) return c.interval.exact ? "within 5% at the median, not at the interval's low end" : "within 5% at the median (too few rounds for an interval)";
  return "NOT within 5%";
}

/**
 * Issue 5 §7: throughput with metrics and flow records on must stay within 5% of them being
 * off. One line per telemetry cell: l7proxy and l7proxy-info against l7proxy-notel, as the
 * median of per-round ratios (each round runs all three, freshly started, side by side).
 */
export function telemetryCostLines(results: readonly CellResult[]): string[] {
  const lines: string[] = [];
  const pct = (r: number): string => `${r >= 1 ? "+" : ""}${((r - 1) * 100).toFixed(1)}%`;
  const describe = (c: TelemetryCost, what: string): string => {
    const ci = `${c.interval.exact ? "95% interval" : "range"} ${c.interval.low.toFixed(3)}-${c.interval.high.toFixed(3)}`;
    const cpu = Number.isFinite(c.cpuRatio) ? `${c.cpuRatio.toFixed(3)}x` : "-";
    return `${c.target} (${what}) ${c.rpsRatio.toFixed(3)}x (${pct(c.rpsRatio)}; ${ci}; CPU per request ${cpu}): ${telemetryVerdict(c)}`;
  };
  const variants = [
    ["", "metrics + /flows ring, log level warn"],
    ["-info", "metrics + ring + flow records logged, log level info (the default)"],
  ] as const;
  // The same proxy code in both topologies: their pairs pooled give the tightest interval.
  const pooled = new Map<string, Pair[]>(variants.map(([suffix]) => [suffix, []]));
  let cells = 0;
  for (const r of results) {
    if (!r.cell.telemetry) continue;
    const lo = r.cell.loopback ? "-lo" : "";
    const baseline = `l7proxy${lo}-notel` as TargetName;
    const off = r.summary[baseline];
    if (off === undefined) continue;
    const parts: string[] = [];
    for (const [suffix, what] of variants) {
      const target = `l7proxy${lo}${suffix}` as TargetName;
      const pairs = pairsOf(r.runs, target, baseline);
      pooled.get(suffix)!.push(...pairs);
      const c = pairedCost(pairs, target, baseline);
      if (c !== null) parts.push(describe(c, what));
    }
    if (parts.length === 0) continue;
    cells++;
    lines.push(
      `Telemetry cost (issue 5 §7), ${r.cell.loopback ? "loopback" : "TPROXY"}, rps against l7proxy${lo}-notel (--no-telemetry, median ${Math.round(off.rps)} rps), median of ${off.rounds} paired rounds: ${parts.join("; ")}.`,
    );
  }
  if (cells > 1) {
    const parts: string[] = [];
    for (const [suffix, what] of variants) {
      const c = pairedCost(pooled.get(suffix)!, `l7proxy${suffix}` as TargetName, "l7proxy-notel");
      if (c !== null) parts.push(describe(c, what));
    }
    const n = pooled.get("")!.length;
    lines.push(`Telemetry cost (issue 5 §7), both topologies pooled, median of ${n} paired rounds: ${parts.join("; ")}.`);
  }
  return lines;
}

/**
 * Issue 15 §2: how each proxy scales from one process (thread) to N, in the scaling cell:
 * rps with N / rps with 1 and the CPU each spends per request, both from the same rounds.
 */
export function scalingLines(results: readonly CellResult[], n: number): string[] {
  const lines: string[] = [];
  for (const r of results) {
    if (!r.cell.scaling) continue;
    const parts: string[] = [];
    for (const [one, many, what] of [
      ["l7proxy", "l7proxy-workers", `l7proxy --workers ${n}`],
      ["haproxy", "haproxy-threads", `HAProxy nbthread ${n}`],
    ] as const) {
      const a = r.summary[one];
      const b = r.summary[many];
      if (a === undefined || b === undefined) continue;
      const cpu = (s: TargetSummary): string => (s.vcpuPer1kRps === null ? "-" : `${((s.vcpuPer1kRps / 1000) * 1e6).toFixed(1)} µs`);
      parts.push(`${what}: ${(b.rps / a.rps).toFixed(2)}x the rps of 1 (${Math.round(b.rps)} against ${Math.round(a.rps)}; CPU per request ${cpu(b)} against ${cpu(a)})`);
    }
    if (parts.length > 0) lines.push(`Scaling (issue 15 §2, ${r.cell.key}, unpinned on this machine's cores shared with the load generator and nginx): ${parts.join("; ")}.`);
  }
  return lines;
}
