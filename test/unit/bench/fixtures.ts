// Hand-made runs and cells for the tests of the result summaries and reports.

import type { TargetName } from "../../../bench/load/env/bench-env.js";
import type { Run } from "../../../bench/load/measure.js";
import type { Cell } from "../../../bench/load/plan.js";

export function run(target: TargetName, round: number, rps: number, p99: number, extra: Partial<Run> = {}): Run {
  return {
    target,
    round,
    rps,
    latency: { p50: p99 / 4, p90: p99 / 2, p99, p999: p99 * 2, max: p99 * 3 },
    service: null,
    sendLagP99: null,
    errors: 0,
    denied: 0,
    requests: rps,
    cpuSeconds: null,
    wallSeconds: 1,
    peakRssBytes: null,
    cpuPressure: null,
    tcp: null,
    ...extra,
  };
}

export const throughputCell: Cell = {
  key: "throughput c=64 body=0 rules=1",
  scenarios: ["throughput"],
  kind: "throughput",
  ruleCount: 1,
  connections: 64,
  bodySize: 0,
  deniedShare: 0,
  rate: null,
  loopback: false,
  telemetry: false,
  scaling: false,
  targets: ["direct", "l7proxy", "haproxy"],
};

