import { describe, expect, test } from "vitest";
import { parseOptions } from "../../../bench/load/options.js";
import { planCells, plannedTargets, roundOrder, roundsOf } from "../../../bench/load/plan.js";
import { TARGETS, isScaling, l7proxyTelemetryArgs, telemetryVariant } from "../../../bench/load/env/bench-env.js";

describe("planCells", () => {
  test("the default configuration shared by several scenarios is measured once", () => {
    const o = parseOptions(["--scenarios", "throughput,rules,connections,body", "--rules", "1,100", "--connections", "64", "--body-sizes", "0"], "/out");
    const cells = planCells(o);
    expect(cells.map((c) => c.key)).toEqual(["throughput c=64 body=0 rules=1", "throughput c=64 body=0 rules=100"]);
    expect(cells[0]?.scenarios).toEqual(["throughput", "rules", "connections", "body"]);
  });

  test("cells are ordered by rule count so proxies restart once per policy", () => {
    const cells = planCells(parseOptions(["--quick"], "/out"));
    const counts = cells.map((c) => c.ruleCount);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(new Set(counts)).toEqual(new Set([1, 10_000]));
  });

  test("the scaling cell adds l7proxy --workers N and HAProxy nbthread N; no other cell has them", () => {
    const cells = planCells(parseOptions(["--scenarios", "throughput,scaling"], "/out"));
    expect(cells.map((c) => c.key)).toEqual(["throughput c=64 body=0 rules=1", "throughput c=64 body=0 rules=1 scaling"]);
    expect(cells[0]?.targets).toEqual(["direct", "l7proxy", "haproxy"]);
    expect(cells[1]?.targets).toEqual(["direct", "l7proxy", "haproxy", "l7proxy-workers", "haproxy-threads"]);
  });

  test("loopback cells get the loopback targets, the others the namespace targets", () => {
    const cells = planCells(parseOptions(["--scenarios", "loopback,latency", "--rates", "3000"], "/out"));
    const lo = cells.filter((c) => c.loopback);
    expect(lo.map((c) => c.key)).toEqual(["throughput c=64 body=0 rules=1 loopback", "latency@3000rps c=64 body=0 rules=1 loopback"]);
    for (const c of lo) expect(c.targets).toEqual(["direct-lo", "l7proxy-lo", "haproxy-lo"]);
    expect(cells.find((c) => !c.loopback)?.targets).toEqual(["direct", "l7proxy", "haproxy"]);
  });

  test("latency cells use the open-loop pool size; the denied scenario sends half to the denied path", () => {
    const cells = planCells(parseOptions(["--scenarios", "denied", "--latency-connections", "16"], "/out"));
    expect(cells.map((c) => [c.key, c.deniedShare, c.connections])).toEqual([
      ["throughput c=64 body=0 rules=1 denied=50%", 0.5, 64],
      ["latency@3000rps c=16 body=0 rules=1 denied=50%", 0.5, 16],
    ]);
  });

  test("the telemetry scenario measures l7proxy against its telemetry variants only, and the variants nowhere else", () => {
    const cells = planCells(parseOptions(["--scenarios", "telemetry,throughput,loopback", "--rates", "3000"], "/out"));
    const tel = cells.filter((c) => c.telemetry);
    expect(tel.map((c) => [c.key, c.targets])).toEqual([
      ["throughput c=64 body=0 rules=1 telemetry on/off", ["l7proxy", "l7proxy-notel", "l7proxy-info"]],
      ["throughput c=64 body=0 rules=1 loopback telemetry on/off", ["l7proxy-lo", "l7proxy-lo-notel", "l7proxy-lo-info"]],
    ]);
    for (const c of cells.filter((x) => !x.telemetry)) expect(c.targets.every((t) => telemetryVariant(t) === null)).toBe(true);
    expect(plannedTargets(cells, parseOptions([], "/out"))).toEqual(TARGETS.filter((t) => !isScaling(t)));
  });

  test("without the telemetry scenario its variants are not started", () => {
    const o = parseOptions(["--scenarios", "throughput,loopback"], "/out");
    expect(plannedTargets(planCells(o), o)).toEqual(["direct", "l7proxy", "haproxy", "direct-lo", "l7proxy-lo", "haproxy-lo"]);
  });

  test("the telemetry scenario has no cell when no variant target was asked for", () => {
    expect(planCells(parseOptions(["--scenarios", "telemetry", "--targets", "l7proxy,l7proxy-lo"], "/out"))).toEqual([]);
    const only = planCells(parseOptions(["--scenarios", "telemetry", "--targets", "l7proxy-lo,l7proxy-lo-notel"], "/out"));
    expect(only.map((c) => c.targets)).toEqual([["l7proxy-lo", "l7proxy-lo-notel"]]);
  });

  test("each l7proxy target runs with the telemetry its name says", () => {
    expect(l7proxyTelemetryArgs("l7proxy")).toEqual(["--log-level", "warn"]);
    expect(l7proxyTelemetryArgs("l7proxy-lo-notel")).toEqual(["--no-telemetry", "--log-level", "warn"]);
    expect(l7proxyTelemetryArgs("l7proxy-info")).toEqual(["--log-level", "info"]);
  });

  test("a scenario whose targets were all left out has no cells", () => {
    expect(planCells(parseOptions(["--scenarios", "loopback", "--targets", "direct,haproxy"], "/out"))).toEqual([]);
  });
});

describe("rounds", () => {
  test("each round starts with a different target, and every target keeps its neighbours' order", () => {
    expect([0, 1, 2, 3].map((r) => roundOrder(["a", "b", "c"], r).join(""))).toEqual(["abc", "bca", "cab", "abc"]);
    expect(roundOrder([], 5)).toEqual([]);
  });

  test("the telemetry scenario has its own round count", () => {
    const o = parseOptions(["--scenarios", "telemetry,throughput", "--rounds", "3", "--telemetry-rounds", "12"], "/out");
    const cells = planCells(o);
    expect(cells.filter((c) => c.telemetry).map((c) => roundsOf(c, o))).toEqual([12, 12]);
    expect(cells.filter((c) => !c.telemetry).map((c) => roundsOf(c, o))).toEqual([3]);
  });
});
