// From runs to results: the median of each metric over the interleaved rounds, the cost per
// 1,000 rps, and the comparisons the issue asks for (to direct and to HAProxy on the same
// topology, loopback against loopback).

import type { TargetName } from "./env/bench-env.js";
import type { Run } from "./measure.js";
import type { Cell } from "./plan.js";
import { median, ratio } from "./stats.js";

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
  };
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

/**
 * Issue 5 §7: throughput with metrics and flow records on must stay within 5% of them being
 * off. One line per telemetry cell: l7proxy (and l7proxy-info) rps over l7proxy-notel rps.
 */
export function telemetryCostLines(results: readonly CellResult[]): string[] {
  const lines: string[] = [];
  const pct = (r: number): string => `${r >= 1 ? "+" : ""}${((r - 1) * 100).toFixed(1)}%`;
  for (const r of results) {
    if (!r.cell.telemetry) continue;
    const lo = r.cell.loopback ? "-lo" : "";
    const off = r.summary[`l7proxy${lo}-notel` as TargetName];
    if (off === undefined) continue;
    const parts: string[] = [];
    for (const [t, what] of [
      [`l7proxy${lo}`, "metrics + /flows ring, log level warn"],
      [`l7proxy${lo}-info`, "also every flow record logged, log level info"],
    ] as const) {
      const on = r.summary[t as TargetName];
      if (on === undefined) continue;
      const rps = ratio(on.rps, off.rps);
      const cpu = on.vcpuPer1kRps !== null && off.vcpuPer1kRps !== null ? ratio(on.vcpuPer1kRps, off.vcpuPer1kRps) : Number.NaN;
      const verdict = rps >= 0.95 ? "within 5%" : "NOT within 5%";
      parts.push(
        `${t} (${what}) ${Math.round(on.rps)} rps = ${rps.toFixed(3)}x (${pct(rps)}), CPU per request ${Number.isFinite(cpu) ? `${cpu.toFixed(3)}x` : "-"}: ${verdict}`,
      );
    }
    if (parts.length === 0) continue;
    lines.push(
      `Telemetry cost (issue 5 §7), ${r.cell.loopback ? "loopback" : "TPROXY"}, against l7proxy${lo}-notel (--no-telemetry, ${Math.round(off.rps)} rps): ${parts.join("; ")}.`,
    );
  }
  return lines;
}
