// The metric cells of one (source, destination) workload pair, bound as they are first
// needed. What every protocol counts per pair (denials by policy) lives here; each protocol's
// own cells hang off `slots`, one slot per protocol, so a request finds them with an index.

import type { CounterCell } from "./metric-cells.js";
import type { L7ProxyMetrics } from "./metrics.js";

export class PairCells {
  /** The protocols' own per-pair cells, by their slot index (protocols/index.ts). */
  readonly slots: unknown[] = [];
  /** [source namespace, source workload, destination namespace, destination workload] */
  readonly context: readonly string[];
  /** [source pod, destination pod] with --pod-level-metrics, else empty. */
  readonly pods: readonly string[];
  private readonly denied = new Map<string, Map<string, CounterCell>>();

  constructor(
    readonly metrics: L7ProxyMetrics,
    srcNs: string,
    srcWl: string,
    dstNs: string,
    dstWl: string,
    srcPod: string,
    dstPod: string,
  ) {
    this.context = [srcNs, srcWl, dstNs, dstWl];
    this.pods = metrics.podLabels ? [srcPod, dstPod] : [];
  }

  deniedCell(protocol: string, policy: string): CounterCell {
    let byPolicy = this.denied.get(protocol);
    if (byPolicy === undefined) {
      byPolicy = new Map();
      this.denied.set(protocol, byPolicy);
    }
    let cell = byPolicy.get(policy);
    if (cell === undefined) {
      cell = this.metrics.deniedRequestsTotal.bind(protocol, ...this.context, policy, ...this.pods);
      byPolicy.set(policy, cell);
    }
    return cell;
  }
}
