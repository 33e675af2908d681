// What telemetry needs from each L7 protocol: its own metrics for a request, its part of the
// flow record, and its words in `l7proxy observe`. Everything else (verdict counters, denied
// counts by policy, sampling, the /flows ring, the log) is the same for every protocol.

import type { L7Detail, L7Exchange } from "../../datapath/observer.js";
import type { FlowRecord } from "../flow-record.js";
import type { L7ProxyMetrics } from "../metrics.js";
import type { PairCells } from "../pair-cells.js";
import type { UrlRedaction } from "../redact.js";

export interface RecordOptions {
  redact: UrlRedaction;
}

export interface CountContext {
  pair: PairCells;
  /** Hubble's reporter: 0 client (egress decided), 1 server (ingress decided). */
  reporter: 0 | 1;
}

/** The protocol's part of flow records; pure, used by the proxy and by `observe` alike. */
export interface ProtocolRecord<D extends L7Detail = L7Detail> {
  /** The record's protocol part (the `http`, `kafka` or `dns` field). */
  part(ex: L7Exchange<D>, opts: RecordOptions): unknown;
  /** What `observe` prints after the route, e.g. "http PUT /v1/exhaust-port 403". */
  summary(rec: FlowRecord, paint: (kind: "bad" | "good", text: string) => string): string;
}

/** The protocol's own metrics, bound to one registry. */
export interface ProtocolMetrics<D extends L7Detail = L7Detail> {
  count(ex: L7Exchange<D>, ctx: CountContext): void;
}

export interface ProtocolTelemetry<D extends L7Detail = L7Detail> {
  readonly protocol: D["protocol"];
  /** Index of its per-pair cells in PairCells.slots. */
  readonly slot: number;
  readonly record: ProtocolRecord<D>;
  metrics(m: L7ProxyMetrics): ProtocolMetrics<D>;
}

export const REPORTERS = ["client", "server"] as const;
