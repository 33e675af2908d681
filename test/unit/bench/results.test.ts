import { describe, expect, test } from "vitest";
import type { Cell } from "../../../bench/load/plan.js";
import { cellResult, summarizeRuns, telemetryCostLines } from "../../../bench/load/results.js";
import { run, throughputCell } from "./fixtures.js";

describe("summarizeRuns", () => {
  test("medians per metric over rounds, errors summed, cost per 1,000 rps", () => {
    const s = summarizeRuns([
      run("l7proxy", 0, 10_000, 2, { errors: 1, cpuSeconds: 0.5, wallSeconds: 1, peakRssBytes: 50 * 1024 * 1024 }),
      run("l7proxy", 1, 30_000, 9, { errors: 2, cpuSeconds: 0.9, wallSeconds: 1, peakRssBytes: 70 * 1024 * 1024 }),
      run("l7proxy", 2, 20_000, 4, { cpuSeconds: 0.8, wallSeconds: 2, peakRssBytes: 60 * 1024 * 1024 }),
    ]);
    expect(s).toMatchObject({ rounds: 3, rps: 20_000, p99: 4, errors: 3, vcpu: 0.5, peakRssMb: 60 });
    expect(s.vcpuPer1kRps).toBeCloseTo(0.025);
    expect(s.rssMbPer1kRps).toBeCloseTo(3);
  });

  test("direct has no process, so no cost", () => {
    expect(summarizeRuns([run("direct", 0, 1000, 1)])).toMatchObject({ vcpu: null, vcpuPer1kRps: null, peakRssMb: null });
  });
});

describe("cellResult", () => {
  test("throughput compares rps to direct and to HAProxy; +p99 is over direct", () => {
    const r = cellResult(throughputCell, [run("direct", 0, 40_000, 1), run("l7proxy", 0, 20_000, 3), run("haproxy", 0, 10_000, 2)]);
    expect(r.comparison.l7proxy).toEqual({ vsDirect: 0.5, vsHaproxy: 2, addedP99: 2 });
    expect(r.comparison.haproxy?.vsHaproxy).toBe(1);
  });

  test("latency rows compare p99", () => {
    const cell: Cell = { ...throughputCell, key: "latency", kind: "latency", rate: 3000 };
    const r = cellResult(cell, [run("direct", 0, 3000, 1), run("l7proxy", 0, 3000, 3), run("haproxy", 0, 3000, 2)]);
    expect(r.comparison.l7proxy).toEqual({ vsDirect: 3, vsHaproxy: 1.5, addedP99: 2 });
  });

  test("a target without runs has no summary, and others' ratios to it are NaN", () => {
    const r = cellResult(throughputCell, [run("l7proxy", 0, 20_000, 3)]);
    expect(r.summary.haproxy).toBeUndefined();
    expect(r.comparison.l7proxy?.vsHaproxy).toBeNaN();
  });
});

describe("telemetryCostLines", () => {
  const cell: Cell = { ...throughputCell, key: "throughput c=64 body=0 rules=1 loopback telemetry on/off", loopback: true, telemetry: true, targets: ["l7proxy-lo", "l7proxy-lo-notel", "l7proxy-lo-info"] };

  test("states l7proxy's rps as a ratio of --no-telemetry's, and whether it is within 5%", () => {
    const r = cellResult(cell, [
      run("l7proxy-lo", 0, 57_000, 1, { cpuSeconds: 1, wallSeconds: 1 }),
      run("l7proxy-lo-notel", 0, 60_000, 1, { cpuSeconds: 1, wallSeconds: 1 }),
      run("l7proxy-lo-info", 0, 54_000, 1, { cpuSeconds: 1, wallSeconds: 1 }),
    ]);
    const [line, ...rest] = telemetryCostLines([r]);
    expect(rest).toEqual([]);
    expect(line).toContain("loopback, against l7proxy-lo-notel (--no-telemetry, 60000 rps)");
    expect(line).toContain("l7proxy-lo (metrics + /flows ring, log level warn) 57000 rps = 0.950x (-5.0%), CPU per request 1.053x: within 5%");
    expect(line).toContain("l7proxy-lo-info (also every flow record logged, log level info) 54000 rps = 0.900x (-10.0%), CPU per request 1.111x: NOT within 5%");
  });

  test("no line for other cells or without the --no-telemetry reference", () => {
    expect(telemetryCostLines([cellResult(throughputCell, [run("l7proxy", 0, 1, 1)])])).toEqual([]);
    expect(telemetryCostLines([cellResult(cell, [run("l7proxy-lo", 0, 1, 1)])])).toEqual([]);
  });
});
