import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CounterFamily, GaugeFamily, HistogramFamily, OVERFLOW_LABEL_VALUE } from "../../../src/telemetry/metric-cells.js";

// Exemplars are an OpenMetrics feature l7proxy does not enable; prom-client still lists
// `exemplar: null` on histogram buckets, which carries no information.
function withoutExemplars(metrics: unknown): unknown {
  return JSON.parse(JSON.stringify(metrics, (k, v: unknown) => (k === "exemplar" ? undefined : v)));
}

// The cell-backed families must print exactly what prom-client's own metrics print for the
// same events, so scrapers and dashboards cannot tell them apart.
describe("cell-backed metric families", () => {
  it("a counter prints what prom-client's Counter prints", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const a = new CounterFamily({ name: "x_total", help: "help text", labelNames: ["method", "code"], registry: ours });
    const b = new Counter({ name: "x_total", help: "help text", labelNames: ["method", "code"], registers: [theirs] });
    const get = a.bind("GET", "200");
    get.inc();
    get.inc(2);
    a.bind("PUT", "403").inc();
    b.inc({ method: "GET", code: "200" });
    b.inc({ method: "GET", code: "200" }, 2);
    b.inc({ method: "PUT", code: "403" });
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(withoutExemplars(await ours.getMetricsAsJSON())).toEqual(withoutExemplars(await theirs.getMetricsAsJSON()));
  });

  it("an unlabelled counter and gauge exist at 0 before any event", async () => {
    const ours = new Registry();
    new CounterFamily({ name: "c_total", help: "c", labelNames: [], registry: ours });
    new GaugeFamily({ name: "g", help: "g", labelNames: [], registry: ours });
    const text = await ours.metrics();
    expect(text).toContain("\nc_total 0\n");
    expect(text).toContain("\ng 0\n");
  });

  it("a gauge prints what prom-client's Gauge prints", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const a = new GaugeFamily({ name: "active", help: "h", labelNames: [], registry: ours });
    const b = new Gauge({ name: "active", help: "h", registers: [theirs] });
    const cell = a.bind();
    cell.inc();
    cell.inc();
    cell.dec();
    b.inc();
    b.inc();
    b.dec();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it("a histogram prints what prom-client's Histogram prints, buckets cumulative", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.001, 0.01, 0.1, 1];
    const a = new HistogramFamily({ name: "d_seconds", help: "h", labelNames: ["phase"], buckets, registry: ours });
    const b = new Histogram({ name: "d_seconds", help: "h", labelNames: ["phase"], buckets, registers: [theirs] });
    const values = [0.0005, 0.001, 0.004, 0.05, 0.05, 0.7, 3, 12];
    const proxy = a.bind("proxy");
    for (const v of values) {
      proxy.observe(v);
      b.observe({ phase: "proxy" }, v);
    }
    a.bind("upstream").observe(0.2);
    b.observe({ phase: "upstream" }, 0.2);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(withoutExemplars(await ours.getMetricsAsJSON())).toEqual(withoutExemplars(await theirs.getMetricsAsJSON()));
  });

  it("binding the same label values returns the same cell", () => {
    const f = new CounterFamily({ name: "y_total", help: "h", labelNames: ["a"], registry: new Registry() });
    expect(f.bind("1")).toBe(f.bind("1"));
    expect(f.bind("1")).not.toBe(f.bind("2"));
  });

  it("rejects the wrong number of label values", () => {
    const f = new CounterFamily({ name: "y_total", help: "h", labelNames: ["a", "b"], registry: new Registry() });
    expect(() => f.bind("1")).toThrow(/expected 2 label values/);
  });

  it("past maxSeries, new label sets share one overflow series", async () => {
    const reg = new Registry();
    const f = new CounterFamily({ name: "z_total", help: "h", labelNames: ["pod"], registry: reg, maxSeries: 2 });
    f.bind("a").inc();
    f.bind("b").inc();
    f.bind("c").inc();
    f.bind("d").inc(5);
    f.bind("a").inc();
    const text = await reg.metrics();
    expect(text).toContain('z_total{pod="a"} 2');
    expect(text).toContain('z_total{pod="b"} 1');
    expect(text).not.toContain('pod="c"');
    expect(text).toContain(`z_total{pod="${OVERFLOW_LABEL_VALUE}"} 6`);
  });
});
