// HTTP's telemetry (HTTP/1.x and HTTP/2, gRPC included): Envoy's request counters, Hubble's
// HTTP request counts and durations, and the `http` part of flow records.

import type { HttpDetail, L7Exchange } from "../../datapath/observer.js";
import type { FlowRecord } from "../flow-record.js";
import type { CounterCell, HistogramCell } from "../metric-cells.js";
import { ENVOY_CONN_MANAGER_PREFIX, type L7ProxyMetrics } from "../metrics.js";
import type { PairCells } from "../pair-cells.js";
import { redactHeaders, redactUrl, type RecordedHeader } from "../redact.js";
import { REPORTERS, type CountContext, type ProtocolMetrics, type ProtocolRecord, type ProtocolTelemetry, type RecordOptions } from "./protocol-telemetry.js";

export interface FlowHttp {
  method: string;
  url: string;
  host: string;
  protocol: string;
  code: number;
  latency: { proxySeconds: number; upstreamSeconds: number | null };
  headers?: RecordedHeader[];
  grpc?: { service: string; method: string; status: number | null };
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);
/** Custom methods are unbounded, so they share one label value. */
const OTHER_METHOD = "OTHER";
const VERSION_INDEX = { "HTTP/1.0": 0, "HTTP/1.1": 1, "HTTP/2": 2 } as const;
const SLOT = 0;

/** The HTTP cells of one workload pair. */
class HttpPairCells {
  /** gRPC calls by reporter, then "service/method status". */
  readonly grpc: [Map<string, CounterCell>, Map<string, CounterCell>] = [new Map(), new Map()];
  readonly requests: [Map<string, Map<number, CounterCell>>, Map<string, Map<number, CounterCell>>] = [new Map(), new Map()];
  readonly durations: [Map<string, [HistogramCell, HistogramCell]>, Map<string, [HistogramCell, HistogramCell]>] = [new Map(), new Map()];
}

class HttpMetrics implements ProtocolMetrics<HttpDetail> {
  private readonly rqTotal: CounterCell;
  private readonly rqByClass: CounterCell[];

  constructor(private readonly m: L7ProxyMetrics) {
    this.rqTotal = m.envoyHttpRqTotal.bind(ENVOY_CONN_MANAGER_PREFIX);
    this.rqByClass = ["1", "2", "3", "4", "5"].map((c) => m.envoyHttpDownstreamRqXx.bind(ENVOY_CONN_MANAGER_PREFIX, c));
  }

  count(ex: L7Exchange<HttpDetail>, ctx: CountContext): void {
    const d = ex.detail;
    const status = d.status;
    this.rqTotal.inc();
    const cls = (status / 100) | 0;
    if (cls >= 1 && cls <= 5) this.rqByClass[cls - 1]!.inc();
    const method = KNOWN_METHODS.has(d.method) ? d.method : OTHER_METHOD;
    const cells = (ctx.pair.slots[SLOT] ??= new HttpPairCells()) as HttpPairCells;
    this.request(ctx.pair, cells, ctx.reporter, method, status, d.version).inc();
    if (d.grpc !== undefined) this.grpcCall(ctx.pair, cells, ctx.reporter, d.grpc).inc();
    const [proxy, upstream] = this.duration(ctx.pair, cells, ctx.reporter, method);
    proxy.observe(ex.proxyLatencySeconds);
    if (ex.upstreamLatencySeconds !== undefined) upstream.observe(ex.upstreamLatencySeconds);
  }

  private request(pair: PairCells, c: HttpPairCells, reporter: 0 | 1, method: string, status: number, version: HttpDetail["version"]): CounterCell {
    let byStatus = c.requests[reporter].get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      c.requests[reporter].set(method, byStatus);
    }
    // A numeric key: (status, version) without building a string.
    const key = status * 4 + VERSION_INDEX[version];
    let cell = byStatus.get(key);
    if (cell === undefined) {
      cell = this.m.hubbleHttpRequestsTotal.bind(method, version, String(status), REPORTERS[reporter], ...pair.context, ...pair.pods);
      byStatus.set(key, cell);
    }
    return cell;
  }

  private grpcCall(pair: PairCells, c: HttpPairCells, reporter: 0 | 1, g: NonNullable<HttpDetail["grpc"]>): CounterCell {
    const key = `${g.service}/${g.method} ${g.status ?? ""}`;
    let cell = c.grpc[reporter].get(key);
    if (cell === undefined) {
      const status = g.status === null ? "NO_STATUS" : (GRPC_STATUS[g.status] ?? String(g.status));
      cell = this.m.grpcRequestsTotal.bind(g.service, g.method, status, REPORTERS[reporter], ...pair.context, ...pair.pods);
      c.grpc[reporter].set(key, cell);
    }
    return cell;
  }

  /** [proxy, upstream] duration cells. */
  private duration(pair: PairCells, c: HttpPairCells, reporter: 0 | 1, method: string): [HistogramCell, HistogramCell] {
    let cells = c.durations[reporter].get(method);
    if (cells === undefined) {
      const h = this.m.hubbleHttpRequestDurationSeconds;
      const r = REPORTERS[reporter];
      cells = [h.bind(method, r, "proxy", ...pair.context, ...pair.pods), h.bind(method, r, "upstream", ...pair.context, ...pair.pods)];
      c.durations[reporter].set(method, cells);
    }
    return cells;
  }
}

/** gRPC's status names (grpc/status.h), for `observe`. */
const GRPC_STATUS = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
  "UNAUTHENTICATED",
];

export function httpPart(ex: L7Exchange<HttpDetail>, opts: RecordOptions): FlowHttp {
  const d = ex.detail;
  const http: FlowHttp = {
    method: d.method,
    url: redactUrl(d.url, opts.redact),
    host: d.host,
    protocol: d.version,
    code: d.status,
    latency: { proxySeconds: ex.proxyLatencySeconds, upstreamSeconds: ex.upstreamLatencySeconds ?? null },
  };
  if (d.headers !== undefined) http.headers = redactHeaders(d.headers);
  if (d.grpc !== undefined) http.grpc = { service: d.grpc.service, method: d.grpc.method, status: d.grpc.status };
  return http;
}

const record: ProtocolRecord<HttpDetail> = {
  part: httpPart,
  summary(rec: FlowRecord, paint) {
    const h = rec.http;
    if (h === undefined) return rec.protocol;
    if (h.grpc !== undefined) {
      const st = h.grpc.status;
      const name = st === null ? String(h.code) : GRPC_STATUS[st] ?? String(st);
      return `grpc /${h.grpc.service}/${h.grpc.method} ${paint(st === 0 ? "good" : "bad", name)}`;
    }
    return `${rec.protocol} ${h.method} ${h.url} ${paint(h.code >= 400 ? "bad" : "good", String(h.code))}`;
  },
};

export const httpTelemetry: ProtocolTelemetry<HttpDetail> = {
  protocol: "http",
  slot: SLOT,
  record,
  metrics: (m) => new HttpMetrics(m),
};
