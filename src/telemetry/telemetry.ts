// What the data path calls as it works: counts connections, verdicts and requests, and
// writes flow records. Built for the hot path: label sets are bound once per connection
// (cached on the FlowVerdict object the connection keeps) and per (method, status), so a
// request costs a few map lookups and additions, never a label string; flow records are
// admitted by a token bucket before they are built, so logging cannot become the
// bottleneck, and what is not written is counted.

import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { DatapathObserver, HttpExchange } from "../datapath/observer.js";
import type { ErrorCode } from "../errors/codes.js";
import type { Direction, FlowQuery, FlowVerdict, SideVerdict } from "../policy/decision.js";
import {
  decidingSide,
  denyReason,
  l4MatchOf,
  peerLabels,
  policyRef,
  reporterOf,
  type DenyReason,
} from "./flow-attribution.js";
import { httpRecord, l4DeniedRecord, type FlowRecord, type FlowVerdictName, type HttpRecordOptions } from "./flow-record.js";
import { HttpRecordJson } from "./flow-json.js";
import { FlowRing, type RecordSource } from "./flow-ring.js";
import { FlowSampler } from "./flow-sampler.js";
import { IsoTime } from "./iso-time.js";
import type { FlowLogSink } from "./logger.js";
import type { CounterCell, GaugeCell, HistogramCell } from "./metric-cells.js";
import { monitorEventLoop, type EventLoopDelayMonitor } from "./event-loop-delay.js";
import { createMetrics, ENVOY_CONN_MANAGER_PREFIX, EVENT_LOOP_DELAY_BUCKETS, registerProcessMetrics, type L7ProxyMetrics } from "./metrics.js";

export type { HttpExchange } from "../datapath/observer.js";

export interface TelemetryOptions {
  registry: Registry;
  /**
   * Flow records are written through a child of this logger as `{"kind":"flow","flow":{...}}`
   * at info level; null writes none to the log (the /flows ring still fills).
   */
  logger: Logger | null;
  /** Writes flow records instead of `logger` when given (the proxy's batched stderr). */
  flowLog?: FlowLogSink;
  /** Add source_pod/destination_pod labels (default false: workload-level only). */
  podLevelLabels?: boolean;
  /** Most forwarded flow records written per second (default 1000). */
  flowSampleRate?: number;
  /** Denied flow records per second that are always written (default 1000). */
  deniedFlowMinRate?: number;
  /** Records kept for /flows (default 4096). */
  ringSize?: number;
  /** Hide query parameter values in recorded URLs (default false). */
  redactUrlQuery?: boolean;
  /** Register Node.js process metrics and the event-loop delay monitor (default true). */
  processMetrics?: boolean;
  maxSeriesPerMetric?: number;
  /**
   * Monotonic milliseconds clock for the flow-record rate limits (default performance.now, the
   * clock of HttpExchange.startedAtMs, which is used instead when present); injectable for tests.
   */
  now?: () => number;
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);
/** Custom methods are unbounded, so they share one label value. */
const OTHER_METHOD = "OTHER";

const REPORTER_INDEX = { client: 0, server: 1 } as const;
const REPORTERS = ["client", "server"] as const;
const HTTP_PROTOCOL_INDEX = { "HTTP/1.0": 0, "HTTP/1.1": 1, "HTTP/2": 2 } as const;
const DIRECTION_INDEX = { ingress: 0, egress: 1 } as const;
const DIRECTIONS = ["ingress", "egress"] as const;
/** Hubble's policy-verdict match values l7proxy produces. */
const MATCHES = ["l3-l4", "none", "l7/http"] as const;
type Match = (typeof MATCHES)[number];
const L4_PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
const DENY_REASONS = ["POLICY_DENIED", "POLICY_DENY"] as const;

/** The metric cells of one (source, destination) pair, bound as they are first needed. */
class PairCells {
  private readonly requests: [Map<string, Map<number, CounterCell>>, Map<string, Map<number, CounterCell>>] = [new Map(), new Map()];
  private readonly durations: [Map<string, [HistogramCell, HistogramCell]>, Map<string, [HistogramCell, HistogramCell]>] = [
    new Map(),
    new Map(),
  ];
  private readonly denied = new Map<string, Map<string, CounterCell>>();
  private readonly context: string[];
  private readonly pods: string[];

  constructor(
    private readonly m: L7ProxyMetrics,
    srcNs: string,
    srcWl: string,
    dstNs: string,
    dstWl: string,
    srcPod: string,
    dstPod: string,
  ) {
    this.context = [srcNs, srcWl, dstNs, dstWl];
    this.pods = m.podLabels ? [srcPod, dstPod] : [];
  }

  request(reporter: 0 | 1, method: string, status: number, protocol: HttpExchange["protocol"]): CounterCell {
    let byStatus = this.requests[reporter].get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.requests[reporter].set(method, byStatus);
    }
    // A numeric key: (status, protocol) without building a string.
    const key = status * 4 + HTTP_PROTOCOL_INDEX[protocol];
    let cell = byStatus.get(key);
    if (cell === undefined) {
      cell = this.m.hubbleHttpRequestsTotal.bind(method, protocol, String(status), REPORTERS[reporter], ...this.context, ...this.pods);
      byStatus.set(key, cell);
    }
    return cell;
  }

  /** [proxy, upstream] duration cells. */
  duration(reporter: 0 | 1, method: string): [HistogramCell, HistogramCell] {
    let cells = this.durations[reporter].get(method);
    if (cells === undefined) {
      const h = this.m.hubbleHttpRequestDurationSeconds;
      const r = REPORTERS[reporter];
      cells = [h.bind(method, r, "proxy", ...this.context, ...this.pods), h.bind(method, r, "upstream", ...this.context, ...this.pods)];
      this.durations[reporter].set(method, cells);
    }
    return cells;
  }

  deniedCell(protocol: string, policy: string): CounterCell {
    let byPolicy = this.denied.get(protocol);
    if (byPolicy === undefined) {
      byPolicy = new Map();
      this.denied.set(protocol, byPolicy);
    }
    let cell = byPolicy.get(policy);
    if (cell === undefined) {
      cell = this.m.deniedRequestsTotal.bind(protocol, ...this.context, policy, ...this.pods);
      byPolicy.set(policy, cell);
    }
    return cell;
  }
}

/** What the /flows ring keeps of a request: its record is built only when read. */
class HttpRecordSource implements RecordSource {
  constructor(
    private readonly ex: HttpExchange,
    private readonly time: string,
    private readonly opts: HttpRecordOptions,
  ) {}

  build(): FlowRecord {
    return httpRecord(this.ex, this.time, this.opts);
  }
}

function pinoFlowLog(flowLogger: Logger): FlowLogSink {
  return {
    get enabled() {
      return flowLogger.isLevelEnabled("info");
    },
    // pino serializes objects itself; this path (no batched sink given) is for embedding and
    // tests, not the proxy's hot path.
    write: (json) => flowLogger.info({ flow: JSON.parse(json) as unknown }, "flow"),
  };
}

export class Telemetry implements DatapathObserver {
  readonly metrics: L7ProxyMetrics;
  readonly flows: FlowRing;
  private readonly flowLog: FlowLogSink | null;
  private readonly sampler: FlowSampler;
  private readonly now: () => number;
  private readonly recordOptions: HttpRecordOptions;
  private readonly recordJson: HttpRecordJson;
  private readonly isoTime = new IsoTime();
  /** The event-loop delay monitor (null without process metrics). */
  readonly eventLoop: EventLoopDelayMonitor | null = null;

  private readonly pairs = new Map<string, PairCells>();
  private readonly pairOfFlow = new WeakMap<FlowVerdict, PairCells>();

  // Cells without per-flow labels, bound once here.
  private readonly rqTotal: CounterCell;
  private readonly rqByClass: CounterCell[];
  private readonly connActive: GaugeCell;
  private readonly connTotal: CounterCell;
  private readonly bytesIn: CounterCell;
  private readonly bytesOut: CounterCell;
  private readonly upstreamFailures: CounterCell;
  private readonly logDrops: CounterCell;
  private readonly revision: GaugeCell;
  private readonly parseErrors = new Map<ErrorCode, CounterCell>();
  /** [direction][match][allowed ? 1 : 0] */
  private readonly verdictCells: CounterCell[][][];
  /** [reason][protocol] */
  private readonly dropCells: Record<DenyReason, Record<string, CounterCell>>;
  private readonly recordCells: Record<FlowVerdictName, { written: CounterCell; limited: CounterCell }>;

  constructor(opts: TelemetryOptions) {
    const m = createMetrics(opts.registry, {
      podLabels: opts.podLevelLabels ?? false,
      ...(opts.maxSeriesPerMetric !== undefined ? { maxSeriesPerMetric: opts.maxSeriesPerMetric } : {}),
    });
    this.metrics = m;
    if (opts.processMetrics ?? true) {
      registerProcessMetrics(opts.registry);
      this.eventLoop = monitorEventLoop(m.eventLoopDelaySeconds.bind(), EVENT_LOOP_DELAY_BUCKETS);
    }
    this.flows = new FlowRing(opts.ringSize ?? 4096);
    this.flowLog = opts.flowLog ?? (opts.logger === null ? null : pinoFlowLog(opts.logger.child({ kind: "flow" })));
    this.now = opts.now ?? (() => performance.now());
    this.sampler = new FlowSampler({
      forwardedPerSecond: opts.flowSampleRate ?? 1000,
      deniedMinPerSecond: opts.deniedFlowMinRate ?? 1000,
    });
    this.recordOptions = { redact: { query: opts.redactUrlQuery ?? false } };
    this.recordJson = new HttpRecordJson(this.recordOptions);

    this.rqTotal = m.envoyHttpRqTotal.bind(ENVOY_CONN_MANAGER_PREFIX);
    this.rqByClass = ["1", "2", "3", "4", "5"].map((c) => m.envoyHttpDownstreamRqXx.bind(ENVOY_CONN_MANAGER_PREFIX, c));
    this.connActive = m.connectionsActive.bind();
    this.connTotal = m.connectionsTotal.bind();
    this.bytesIn = m.receivedBytesTotal.bind();
    this.bytesOut = m.sentBytesTotal.bind();
    this.upstreamFailures = m.upstreamConnectFailuresTotal.bind();
    this.logDrops = m.logLinesDroppedTotal.bind();
    this.revision = m.policyRevision.bind();
    const rec = (v: FlowVerdictName) => ({
      written: m.flowRecordsTotal.bind(v, "written"),
      limited: m.flowRecordsTotal.bind(v, "rate_limited"),
    });
    this.recordCells = { FORWARDED: rec("FORWARDED"), DROPPED: rec("DROPPED") };
    // Every combination is bound up front: few of them, and they then exist at 0 from the
    // first scrape, so rate() works from the first event.
    this.verdictCells = DIRECTIONS.map((d) =>
      MATCHES.map((match) => [m.hubblePolicyVerdictsTotal.bind(d, match, "dropped"), m.hubblePolicyVerdictsTotal.bind(d, match, "forwarded")]),
    );
    const drops = (reason: DenyReason) =>
      Object.fromEntries(L4_PROTOCOLS.map((p) => [p, m.hubbleDropTotal.bind(reason, p)])) as Record<string, CounterCell>;
    this.dropCells = { POLICY_DENIED: drops("POLICY_DENIED"), POLICY_DENY: drops("POLICY_DENY") };
  }

  /** Log lines the non-blocking stderr writer had to drop. */
  logLinesDropped(lines: number): void {
    this.logDrops.inc(lines);
  }

  connectionOpened(): void {
    this.connTotal.inc();
    this.connActive.inc();
  }

  connectionClosed(bytesIn: number, bytesOut: number): void {
    this.connActive.dec();
    if (bytesIn > 0) this.bytesIn.inc(bytesIn);
    if (bytesOut > 0) this.bytesOut.inc(bytesOut);
  }

  l4Verdict(flow: FlowVerdict, q: FlowQuery): void {
    // One verdict per enforcement point the connection reached.
    this.countL4Side(flow.egress);
    if (flow.egress.allowed) this.countL4Side(flow.ingress);
    if (flow.allowed) return;

    const side = decidingSide(false, flow.egress, flow.ingress);
    this.dropCell(denyReason(side), q.protocol).inc();
    this.pairOf(flow).deniedCell(q.protocol.toLowerCase(), policyRef(side.decidedBy)).inc();
    if (this.sampler.admitDenied(this.now())) this.emit(l4DeniedRecord(flow, q, this.isoNow()));
    else this.recordCells.DROPPED.limited.inc();
  }

  httpRequest(ex: HttpExchange): void {
    const v = ex.verdict;
    const status = ex.status;
    this.rqTotal.inc();
    const cls = (status / 100) | 0;
    if (cls >= 1 && cls <= 5) this.rqByClass[cls - 1]!.inc();

    const side = decidingSide(v.allowed, v.egress, v.ingress);
    const reporter = REPORTER_INDEX[reporterOf(side.direction)];
    const method = KNOWN_METHODS.has(ex.method) ? ex.method : OTHER_METHOD;
    const pair = this.pairOf(ex.flow);
    pair.request(reporter, method, status, ex.protocol).inc();
    const [proxy, upstream] = pair.duration(reporter, method);
    proxy.observe(ex.proxyLatencySeconds);
    if (ex.upstreamLatencySeconds !== undefined) upstream.observe(ex.upstreamLatencySeconds);
    this.verdictCell(side.direction, "l7/http", v.allowed).inc();

    // Reading a clock costs about as much as the rest of this method: the request's own
    // reading serves, when the data path took one.
    const now = ex.startedAtMs ?? this.now();
    if (v.allowed) {
      if (this.sampler.admitForwarded(now)) this.emitHttp(ex, this.recordCells.FORWARDED.written);
      else this.recordCells.FORWARDED.limited.inc();
      return;
    }
    pair.deniedCell("http", policyRef(side.decidedBy)).inc();
    if (this.sampler.admitDenied(now)) this.emitHttp(ex, this.recordCells.DROPPED.written);
    else this.recordCells.DROPPED.limited.inc();
  }

  parseError(code: ErrorCode): void {
    let cell = this.parseErrors.get(code);
    if (cell === undefined) {
      cell = this.metrics.parseErrorsTotal.bind(code);
      this.parseErrors.set(code, cell);
    }
    cell.inc();
  }

  upstreamConnectFailure(): void {
    this.upstreamFailures.inc();
  }

  /** Called by the control plane after each load attempt; a failure keeps the old revision. */
  policyReload(ok: boolean, revision: number, _error?: string): void {
    const result = ok ? "success" : "failure";
    this.metrics.policyReloadsTotal.bind(result).inc();
    this.metrics.policyLastReloadTimestamp.bind(result).set(Date.now() / 1000);
    if (ok) this.revision.set(revision);
  }

  /**
   * The ring keeps what the record is made of (see flow-ring.ts); the log gets the record's
   * JSON text straight away (see flow-json.ts): no record is built on the hot path.
   */
  private emitHttp(ex: HttpExchange, written: CounterCell): void {
    written.inc();
    const time = this.isoNow();
    const source = new HttpRecordSource(ex, time, this.recordOptions);
    this.flows.push(source);
    if (this.flowLog !== null && this.flowLog.enabled) this.flowLog.write(this.recordJson.line(ex, time), time);
  }

  private isoNow(): string {
    return this.isoTime.format(Date.now());
  }

  private emit(record: FlowRecord): void {
    this.recordCells[record.verdict].written.inc();
    this.flows.push(record);
    if (this.flowLog !== null && this.flowLog.enabled) this.flowLog.write(JSON.stringify(record), record.time);
  }

  private pairOf(flow: FlowVerdict): PairCells {
    let pair = this.pairOfFlow.get(flow);
    if (pair !== undefined) return pair;
    const s = peerLabels(flow.source);
    const d = peerLabels(flow.destination);
    const pods = this.metrics.podLabels;
    const key = pods
      ? `${s.namespace}\0${s.workload}\0${d.namespace}\0${d.workload}\0${s.pod}\0${d.pod}`
      : `${s.namespace}\0${s.workload}\0${d.namespace}\0${d.workload}`;
    pair = this.pairs.get(key);
    if (pair === undefined) {
      pair = new PairCells(this.metrics, s.namespace, s.workload, d.namespace, d.workload, s.pod, d.pod);
      this.pairs.set(key, pair);
    }
    this.pairOfFlow.set(flow, pair);
    return pair;
  }

  private countL4Side(side: SideVerdict): void {
    if (!side.enforced) return;
    this.verdictCell(side.direction, l4MatchOf(side.decidedBy), side.allowed).inc();
  }

  private verdictCell(direction: Direction, match: Match, allowed: boolean): CounterCell {
    return this.verdictCells[DIRECTION_INDEX[direction]]![MATCHES.indexOf(match)]![allowed ? 1 : 0]!;
  }

  private dropCell(reason: DenyReason, protocol: string): CounterCell {
    return this.dropCells[reason][protocol] ?? this.metrics.hubbleDropTotal.bind(reason, protocol);
  }
}
