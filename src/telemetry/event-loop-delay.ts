// The event-loop delay as a Prometheus histogram. One process serves every connection on one
// thread, so a long turn of the loop (a GC pause, a synchronous write, a policy compile)
// delays all of them at once: this is the metric that tells a proxy-wide stall from a slow
// upstream. perf_hooks.monitorEventLoopDelay samples in C++ (a libuv timer every
// `resolutionMs`, no JavaScript per sample) into an HDR histogram; once a second its counts
// are folded into the metric's buckets and it starts afresh.

import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { HistogramCell } from "./metric-cells.js";

export const EVENT_LOOP_RESOLUTION_MS = 10;
const FOLD_INTERVAL_MS = 1000;

/**
 * Adds what `h` recorded to `cell`, as delays past the timer's due time (each sample is the
 * whole interval between two runs of a timer due every `resolutionNs`). The HDR histogram
 * has no bucket counts of its own: the count at or below a bound is found by bisecting its
 * percentiles, exact to the histogram's precision (about 1%).
 */
export function foldInto(cell: HistogramCell, h: Pick<IntervalHistogram, "count" | "mean" | "percentile" | "min" | "max">, bounds: readonly number[], resolutionNs: number): void {
  const count = h.count;
  if (!(count > 0)) return;
  const delayAt = (p: number): number => Math.max(0, h.percentile(p) - resolutionNs) / 1e9;
  let previous = 0;
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i]!;
    let atOrBelow: number;
    if (delayAt(100) <= bound) atOrBelow = count;
    else if (Math.max(0, h.min - resolutionNs) / 1e9 > bound) atOrBelow = 0;
    else {
      // Largest percentile whose value is within the bound.
      let lo = 0;
      let hi = 100;
      for (let k = 0; k < 24; k++) {
        const mid = (lo + hi) / 2;
        if (delayAt(mid) <= bound) lo = mid;
        else hi = mid;
      }
      atOrBelow = Math.round((count * lo) / 100);
    }
    cell.counts[i]! += Math.max(0, atOrBelow - previous);
    previous = Math.max(previous, atOrBelow);
  }
  cell.count += count;
  cell.sum += (Math.max(0, h.mean - resolutionNs) * count) / 1e9;
}

export interface EventLoopDelayMonitor {
  /** Folds what has been recorded so far into the metric (also done every second). */
  fold(): void;
  stop(): void;
}

export function monitorEventLoop(cell: HistogramCell, bounds: readonly number[], resolutionMs = EVENT_LOOP_RESOLUTION_MS): EventLoopDelayMonitor {
  const h = monitorEventLoopDelay({ resolution: resolutionMs });
  h.enable();
  const fold = (): void => {
    foldInto(cell, h, bounds, resolutionMs * 1e6);
    h.reset();
  };
  const timer = setInterval(fold, FOLD_INTERVAL_MS);
  timer.unref();
  return {
    fold,
    stop: () => {
      clearInterval(timer);
      fold();
      h.disable();
    },
  };
}
