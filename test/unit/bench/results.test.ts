import { describe, expect, test } from "vitest";
import type { TargetName } from "../../../bench/load/env/bench-env.js";
import type { Cell } from "../../../bench/load/plan.js";
import { cellResult, scalingLines, summarizeRuns, telemetryCost, telemetryCostLines, telemetryVerdict } from "../../../bench/load/results.js";
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

  test("compares each round with its own --no-telemetry run and reports the median ratio", () => {
    // The baseline drifts by 20% between rounds; the ratios within each round do not.
    const runs = [0, 1, 2].flatMap((round) => {
      const base = 50_000 + round * 10_000;
      return [
        run("l7proxy-lo", round, base * 0.97, 1, { cpuSeconds: 1, wallSeconds: 1 }),
        run("l7proxy-lo-notel", round, base, 1, { cpuSeconds: 0.97, wallSeconds: 1 }),
        run("l7proxy-lo-info", round, base * 0.9, 1, { cpuSeconds: 0.95, wallSeconds: 1 }),
      ];
    });
    const [line, ...rest] = telemetryCostLines([cellResult(cell, runs)]);
    expect(rest).toEqual([]);
    expect(line).toContain("loopback, rps against l7proxy-lo-notel (--no-telemetry, median 60000 rps), median of 3 paired rounds");
    expect(line).toContain("l7proxy-lo (metrics + /flows ring, log level warn) 0.970x (-3.0%; range 0.970-0.970; CPU per request 1.063x): within 5% at the median (too few rounds for an interval)");
    expect(line).toContain("l7proxy-lo-info (metrics + ring + flow records logged, log level info (the default)) 0.900x (-10.0%; range 0.900-0.900; CPU per request 1.088x): NOT within 5%");
  });

  test("with enough rounds the verdict rests on the interval's low end", () => {
    const ratios = [0.99, 0.97, 0.98, 0.96, 1.0, 0.97, 0.98, 0.99, 0.97, 0.94];
    const runs = ratios.flatMap((q, round) => [run("l7proxy-lo", round, 50_000 * q, 1), run("l7proxy-lo-notel", round, 50_000, 1)]);
    const c = telemetryCost(runs, "l7proxy-lo", "l7proxy-lo-notel");
    expect(c?.rpsRatio).toBeCloseTo(0.975);
    // 10 rounds: the 2nd and 9th smallest ratios bound the median with at least 95% confidence.
    expect(c?.interval.exact).toBe(true);
    expect(c?.interval.low).toBeCloseTo(0.96);
    expect(c?.interval.high).toBeCloseTo(0.99);
    expect(telemetryVerdict(c!)).toBe("within 5%");
    const worse = telemetryCost(ratios.flatMap((q, round) => [run("l7proxy-lo", round, 50_000 * (q - 0.02), 1), run("l7proxy-lo-notel", round, 50_000, 1)]), "l7proxy-lo", "l7proxy-lo-notel");
    expect(telemetryVerdict(worse!)).toBe("within 5% at the median, not at the interval's low end");
  });

  test("pools the rounds of both topologies into one more line", () => {
    const tproxyCell: Cell = { ...cell, key: "throughput c=64 body=0 rules=1 telemetry on/off", loopback: false, targets: ["l7proxy", "l7proxy-notel", "l7proxy-info"] };
    const rounds = (lo: string, ratios: number[]) =>
      ratios.flatMap((q, round) => [
        run(`l7proxy${lo}` as TargetName, round, 50_000 * q, 1),
        run(`l7proxy${lo}-notel` as TargetName, round, 50_000, 1),
        run(`l7proxy${lo}-info` as TargetName, round, 50_000 * (q - 0.02), 1),
      ]);
    const lines = telemetryCostLines([
      cellResult(tproxyCell, rounds("", [0.99, 0.98, 0.97])),
      cellResult(cell, rounds("-lo", [1.0, 0.96, 0.98])),
    ]);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toContain("both topologies pooled, median of 6 paired rounds: l7proxy (metrics + /flows ring, log level warn) 0.980x (-2.0%; 95% interval 0.960-1.000");
    expect(lines[2]).toContain("l7proxy-info (metrics + ring + flow records logged, log level info (the default)) 0.960x");
  });

  test("no line for other cells or without the --no-telemetry reference", () => {
    expect(telemetryCostLines([cellResult(throughputCell, [run("l7proxy", 0, 1, 1)])])).toEqual([]);
    expect(telemetryCostLines([cellResult(cell, [run("l7proxy-lo", 0, 1, 1)])])).toEqual([]);
  });
});

describe("scalingLines", () => {
  test("rps with N over rps with 1, and CPU per request, for each proxy", () => {
    const cell: Cell = { ...throughputCell, key: "throughput c=64 body=0 rules=1 scaling", scaling: true, targets: ["l7proxy", "haproxy", "l7proxy-workers", "haproxy-threads"] };
    const cost = (rps: number, vcpu: number) => ({ cpuSeconds: vcpu, wallSeconds: 1, requests: rps });
    const lines = scalingLines(
      [cellResult(cell, [run("l7proxy", 0, 20_000, 1, cost(20_000, 1)), run("l7proxy-workers", 0, 30_000, 1, cost(30_000, 1.8)), run("haproxy", 0, 40_000, 1, cost(40_000, 1)), run("haproxy-threads", 0, 60_000, 1, cost(60_000, 1.5))])],
      2,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("l7proxy --workers 2: 1.50x the rps of 1 (30000 against 20000; CPU per request 60.0 µs against 50.0 µs)");
    expect(lines[0]).toContain("HAProxy nbthread 2: 1.50x the rps of 1");
    expect(scalingLines([cellResult(throughputCell, [run("l7proxy", 0, 1, 1)])], 2)).toEqual([]);
  });
});
