import { describe, expect, it } from "vitest";
import { FlowFilterError, matchesFlow, parseFlowFilter, type FlowFilter } from "../../../src/telemetry/flow-filter.js";
import { l7Record, l4DeniedRecord, type FlowRecord } from "../../../src/telemetry/flow-record.js";
import { FlowRing } from "../../../src/telemetry/flow-ring.js";
import { deathstar, exchange, l4DeniedFlow, l7Flow, query, tiefighter, xwing } from "./flow-fixtures.js";

const T = "2025-01-01T00:00:00.000Z";
const opts = { redact: { query: false } };

function sample(): FlowRecord[] {
  const denied = l4DeniedFlow(xwing, deathstar);
  return [
    l7Record(exchange(), T, opts), // FORWARDED default/tiefighter -> default/deathstar-1, policy default/rule1
    l7Record(exchange({ allowed: false }), T, opts), // DROPPED, default-deny
    l4DeniedRecord(denied, query(denied), T), // DROPPED tcp rebels/xwing-7d9f -> default/deathstar-1
    l7Record(exchange({ flow: l7Flow(tiefighter, xwing) }), T, opts), // FORWARDED to rebels/xwing
  ];
}

function ringOf(records: FlowRecord[], capacity = 100): FlowRing {
  const ring = new FlowRing(capacity);
  for (const r of records) ring.push(r);
  return ring;
}

describe("FlowRing", () => {
  it("keeps the newest records up to its capacity, oldest first", () => {
    const recs = sample();
    const ring = ringOf([...recs, ...recs], 3);
    expect(ring.size).toBe(3);
    expect(ring.recent()).toEqual(recs.slice(1, 4));
  });

  it("returns the last N matching records", () => {
    const ring = ringOf(sample());
    const last2 = ring.recent({}, 2);
    expect(last2.map((r) => r.type)).toEqual(["L3_L4", "L7"]);
    expect(ring.recent({ verdict: "DROPPED" }, 1).map((r) => r.type)).toEqual(["L3_L4"]);
    expect(ring.recent({}, 0)).toEqual([]);
  });

  it("calls followers with each new record until they unsubscribe", () => {
    const ring = new FlowRing(2);
    const seen: FlowRecord[] = [];
    const stop = ring.subscribe((r) => seen.push(r));
    const [a, b, c] = sample();
    ring.push(a!);
    ring.push(b!);
    stop();
    ring.push(c!);
    expect(seen).toEqual([a, b]);
    expect(ring.followers).toBe(0);
  });

  it("drops a follower that throws and keeps serving the others", () => {
    const ring = new FlowRing(2);
    const seen: FlowRecord[] = [];
    ring.subscribe(() => {
      throw new Error("broken pipe");
    });
    ring.subscribe((r) => seen.push(r));
    const [a, b] = sample();
    ring.push(a!);
    ring.push(b!);
    expect(seen).toHaveLength(2);
    expect(ring.followers).toBe(1);
  });

  it("builds records kept as sources when they are read or followed, filters included", () => {
    const recs = sample();
    let builds = 0;
    const source = (r: FlowRecord) => ({
      build: () => {
        builds++;
        return r;
      },
    });
    const ring = new FlowRing(3);
    ring.push(source(recs[0]!));
    ring.push(recs[1]!);
    expect(builds).toBe(0);
    const seen: FlowRecord[] = [];
    ring.subscribe((r) => seen.push(r));
    ring.push(source(recs[2]!));
    expect(seen).toEqual([recs[2]]);
    expect(ring.recent()).toEqual(recs.slice(0, 3));
    expect(ring.recent({ verdict: "FORWARDED" })).toEqual([recs[0]]);
    ring.push(source(recs[3]!));
    expect(ring.recent({}, 1)).toEqual([recs[3]]);
  });

  it("rejects a capacity that is not a positive integer", () => {
    expect(() => new FlowRing(0)).toThrow(RangeError);
  });
});

describe("flow filters", () => {
  const recs = sample();
  const pick = (f: FlowFilter) => recs.map((r, i) => (matchesFlow(r, f) ? i : -1)).filter((i) => i >= 0);

  it("filters by verdict and protocol", () => {
    expect(pick({ verdict: "DROPPED" })).toEqual([1, 2]);
    expect(pick({ verdict: "FORWARDED" })).toEqual([0, 3]);
    expect(pick({ protocol: "tcp" })).toEqual([2]);
    expect(pick({ protocol: "http" })).toEqual([0, 1, 3]);
  });

  it("matches namespace, pod and workload on either side", () => {
    expect(pick({ namespace: "rebels" })).toEqual([2, 3]);
    expect(pick({ pod: "deathstar-1" })).toEqual([0, 1, 2]);
    expect(pick({ pod: "rebels/xwing-7d9f" })).toEqual([2, 3]);
    expect(pick({ pod: "default/xwing-7d9f" })).toEqual([]);
    expect(pick({ workload: "xwing" })).toEqual([2, 3]);
    expect(pick({ workload: "default/tiefighter" })).toEqual([0, 1, 3]);
  });

  it("filters by the deciding policy", () => {
    expect(pick({ policy: "default/rule1" })).toEqual([0, 3]);
    expect(pick({ policy: "default-deny" })).toEqual([1, 2]);
  });

  it("combines filters with AND", () => {
    expect(pick({ verdict: "DROPPED", namespace: "rebels" })).toEqual([2]);
  });

  it("parses query parameters, normalising verdict and protocol case", () => {
    expect(parseFlowFilter(new URLSearchParams("verdict=dropped&protocol=HTTP&namespace=default"))).toEqual({
      verdict: "DROPPED",
      protocol: "http",
      namespace: "default",
    });
  });

  it("rejects bad filter values instead of showing everything", () => {
    expect(() => parseFlowFilter(new URLSearchParams("verdict=DENIED"))).toThrow(FlowFilterError);
    expect(() => parseFlowFilter(new URLSearchParams("namespace="))).toThrow(/empty/);
    expect(() => parseFlowFilter(new URLSearchParams("pod=a&pod=b"))).toThrow(/at most one/);
  });
});
