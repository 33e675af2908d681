import { Registry } from "prom-client";
import { describe, expect, test } from "vitest";
import { foldInto } from "../../../src/telemetry/event-loop-delay.js";
import { HistogramCell } from "../../../src/telemetry/metric-cells.js";
import { EVENT_LOOP_DELAY_BUCKETS } from "../../../src/telemetry/metrics.js";
import { Telemetry } from "../../../src/telemetry/telemetry.js";

const MS = 1e6;

/** A stand-in for the HDR histogram: exact percentiles of the given samples (ns). */
function samples(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0]!,
    max: sorted.at(-1)!,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    percentile: (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!,
  };
}

describe("event-loop delay histogram", () => {
  test("samples are folded into the buckets as delays past the 10 ms timer", () => {
    const cell = new HistogramCell({}, EVENT_LOOP_DELAY_BUCKETS);
    // 97 turns on time (10.2 ms between timer runs), two of 40 ms, one of 310 ms.
    foldInto(cell, samples([...Array(97).fill(10.2 * MS), 40 * MS, 40 * MS, 310 * MS]), EVENT_LOOP_DELAY_BUCKETS, 10 * MS);
    const at = (bound: number): number => {
      const i = EVENT_LOOP_DELAY_BUCKETS.indexOf(bound as (typeof EVENT_LOOP_DELAY_BUCKETS)[number]);
      return [...cell.counts.slice(0, i + 1)].reduce((a, b) => a + b, 0);
    };
    expect(cell.count).toBe(100);
    expect(at(0.001)).toBe(97);
    expect(at(0.025)).toBe(97);
    expect(at(0.05)).toBe(99);
    expect(at(0.25)).toBe(99);
    expect(at(0.5)).toBe(100);
    expect(cell.sum).toBeCloseTo((97 * 0.0002 + 2 * 0.03 + 0.3), 6);
  });

  test("a blocked event loop shows in l7proxy_event_loop_delay_seconds", async () => {
    const registry = new Registry();
    const t = new Telemetry({ registry, logger: null });
    try {
      await new Promise((r) => setTimeout(r, 50));
      const until = performance.now() + 400;
      while (performance.now() < until) {
        // The loop is blocked: the monitor's timer cannot run.
      }
      await new Promise((r) => setTimeout(r, 50));
      t.eventLoop!.fold();
      const text = await registry.metrics();
      const value = (le: string): number => Number(new RegExp(`^l7proxy_event_loop_delay_seconds_bucket\\{le="${le.replace("+", "\\+")}"\\} (\\S+)$`, "m").exec(text)?.[1]);
      const count = Number(/^l7proxy_event_loop_delay_seconds_count (\S+)$/m.exec(text)?.[1]);
      expect(count).toBeGreaterThan(0);
      // The 400 ms turn is one sample above 250 ms.
      expect(value("0.25")).toBeLessThan(count);
      expect(value("+Inf")).toBe(count);
    } finally {
      t.eventLoop!.stop();
    }
  });
});
