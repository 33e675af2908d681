// What the data path calls as it works: counts connections, verdicts and requests, and
// writes flow records. Built for the hot path: label sets are bound once per connection
// (cached on the FlowVerdict object the connection keeps) and per (method, status), so a
// request costs a few map lookups and additions, never a label string; flow records are
// admitted by a token bucket before they are built, so logging cannot become the
// bottleneck, and what is not written is counted.
//
// Every L7 protocol comes through l7Request: what all share (verdict counters, denials by
// policy, sampling, the /flows ring, the log) is done here; the protocol's own metrics and
// record part come from its module in protocols/.

import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { defaultRunConfig } from "../config/run-config.js";
import type { DatapathObserver, L7Exchange } from "../datapath/observer.js";
import type { ErrorCode } from "../errors/codes.js";
import type { Direction, FlowQuery, FlowVerdict, SideVerdict } from "../policy/decision.js";
import { denyReason, l4MatchOf, peerLabels, policyRef, reporterOf, type DenyReason } from "./flow-attribution.js";
import { L7RecordJson } from "./flow-json.js";
import { FLOW_VERDICTS, l4DeniedRecord, l7Record, recordSide, type FlowRecord, type FlowVerdictName } from "./flow-record.js";
import { FlowRing, type RecordSource } from "./flow-ring.js";
import { FlowSampler } from "./flow-sampler.js";
import { IsoTime } from "./iso-time.js";
import type { FlowLogSink } from "./logger.js";
import type { CounterCell, GaugeCell } from "./metric-cells.js";
import { monitorEventLoop, type EventLoopDelayMonitor } from "./event-loop-delay.js";
import { createMetrics, EVENT_LOOP_DELAY_BUCKETS, registerProcessMetrics, type L7ProxyMetrics } from "./metrics.js";
import { PairCells } from "./pair-cells.js";
import { PROTOCOL_TELEMETRY } from "./protocols/index.js";
import type { ProtocolMetrics, RecordOptions } from "./protocols/protocol-telemetry.js";

export type { L7Exchange } from "../datapath/observer.js";

export interface TelemetryOptions {
  registry: Registry;
  /**
   * Flow records are written through a child of this logger as `{"kind":"flow","flow":{...}}`
   * at info level; null writes none to the log (the /flows ring still fills).
   */
  logger: Logger | null;
  /** Writes flow records instead of `logger` when given (the proxy's batched stderr). */
  flowLog?: FlowLogSink;
  /** Where abnormal connection ends are logged (rate limited); defaults to `logger`. */
  eventLogger?: Logger | null;
  /** Add source_pod/destination_pod labels (default false: workload-level only). */
  podLevelLabels?: boolean;
  /** Most forwarded flow records written per second (default: the run config's). */
  flowSampleRate?: number;
  /** Denied flow records per second that are always written (default: the run config's). */
  deniedFlowMinRate?: number;
  /** Records kept for /flows (default: the run config's). */
  ringSize?: number;
  /** Hide query parameter values in recorded URLs (default false). */
  redactUrlQuery?: boolean;
  /** Register Node.js process metrics and the event-loop delay monitor (default true). */
  processMetrics?: boolean;
  maxSeriesPerMetric?: number;
  /**
   * Monotonic milliseconds clock for the flow-record rate limits (default performance.now, the
   * clock of L7Exchange.startedAtMs, which is used instead when present); injectable for tests.
   */
  now?: () => number;
}

const REPORTER_INDEX = { client: 0, server: 1 } as const;
const DIRECTION_INDEX = { ingress: 0, egress: 1 } as const;
const DIRECTIONS = ["ingress", "egress"] as const;
/** Hubble's policy-verdict match values l7proxy produces. */
const MATCHES = ["l3-l4", "none", "l7/http", "l7/kafka", "l7/dns"] as const;
type Match = (typeof MATCHES)[number];
/** The match index of each protocol's L7 verdicts ("l7/http" ...). */
const L7_MATCH: Record<L7Exchange["detail"]["protocol"], number> = { http: 2, kafka: 3, dns: 4 };
/** Hubble's policy-verdict actions, by index: dropped, forwarded, audit. */
const ACTIONS = ["dropped", "forwarded", "audit"] as const;
const L4_PROTOCOLS = ["TCP", "UDP", "SCTP"] as const;
/** Abnormal connection ends logged per second at most (the rest are counted only). */
const CONNECTION_ERROR_LOGS_PER_SECOND = 10;

/** What the /flows ring keeps of a request: its record is built only when read. */
class L7RecordSource implements RecordSource {
  constructor(
    private readonly ex: L7Exchange,
    private readonly time: string,
    private readonly opts: RecordOptions,
  ) {}

  build(): FlowRecord {
    return l7Record(this.ex, this.time, this.opts);
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

function actionIndex(allowed: boolean, audited: boolean): 0 | 1 | 2 {
  return audited ? 2 : allowed ? 1 : 0;
}

export class Telemetry implements DatapathObserver {
  readonly metrics: L7ProxyMetrics;
  readonly flows: FlowRing;
  private readonly flowLog: FlowLogSink | null;
  private readonly eventLogger: Logger | null;
  private readonly sampler: FlowSampler;
  private readonly now: () => number;
  private readonly recordOptions: RecordOptions;
  private readonly recordJson: L7RecordJson;
  private readonly isoTime = new IsoTime();
  /** The event-loop delay monitor (null without process metrics). */
  readonly eventLoop: EventLoopDelayMonitor | null = null;
  private readonly protocols: Record<string, ProtocolMetrics | undefined> = {};

  private readonly pairs = new Map<string, PairCells>();
  private readonly pairOfFlow = new WeakMap<FlowVerdict, PairCells>();

  // Cells without per-flow labels, bound once here.
  private readonly connActive: GaugeCell;
  private readonly connTotal: CounterCell;
  private readonly bytesIn: CounterCell;
  private readonly bytesOut: CounterCell;
  private readonly upstreamFailures: CounterCell;
  private readonly logDrops: CounterCell;
  private readonly revision: GaugeCell;
  private readonly parseErrors = new Map<ErrorCode, CounterCell>();
  private readonly connectionErrors = new Map<ErrorCode, CounterCell>();
  private errorLogWindow = { second: -1, logged: 0, suppressed: 0 };
  /** [direction][match][action] */
  private readonly verdictCells: CounterCell[][][];
  /** [reason][protocol] */
  private readonly dropCells: Record<DenyReason, Record<string, CounterCell>>;
  private readonly recordCells: Record<FlowVerdictName, { written: CounterCell; limited: CounterCell }>;

  constructor(opts: TelemetryOptions) {
    const defaults = defaultRunConfig();
    const m = createMetrics(opts.registry, {
      podLabels: opts.podLevelLabels ?? defaults.podLevelMetrics,
      ...(opts.maxSeriesPerMetric !== undefined ? { maxSeriesPerMetric: opts.maxSeriesPerMetric } : {}),
    });
    this.metrics = m;
    if (opts.processMetrics ?? true) {
      registerProcessMetrics(opts.registry);
      this.eventLoop = monitorEventLoop(m.eventLoopDelaySeconds.bind(), EVENT_LOOP_DELAY_BUCKETS);
    }
    this.flows = new FlowRing(opts.ringSize ?? defaults.flowRingSize);
    this.flowLog = opts.flowLog ?? (opts.logger === null ? null : pinoFlowLog(opts.logger.child({ kind: "flow" })));
    this.eventLogger = opts.eventLogger !== undefined ? opts.eventLogger : opts.logger;
    this.now = opts.now ?? (() => performance.now());
    this.sampler = new FlowSampler({
      forwardedPerSecond: opts.flowSampleRate ?? defaults.flowSampleRate,
      deniedMinPerSecond: opts.deniedFlowMinRate ?? defaults.deniedFlowMinRate,
    });
    this.recordOptions = { redact: { query: opts.redactUrlQuery ?? false } };
    this.recordJson = new L7RecordJson(this.recordOptions);
    for (const t of Object.values(PROTOCOL_TELEMETRY)) {
      if (t !== undefined) this.protocols[t.protocol] = t.metrics(m) as ProtocolMetrics;
    }

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
    this.recordCells = Object.fromEntries(FLOW_VERDICTS.map((v) => [v, rec(v)])) as Record<FlowVerdictName, { written: CounterCell; limited: CounterCell }>;
    // Every combination is bound up front: few of them, and they then exist at 0 from the
    // first scrape, so rate() works from the first event.
    this.verdictCells = DIRECTIONS.map((d) => MATCHES.map((match) => ACTIONS.map((a) => m.hubblePolicyVerdictsTotal.bind(d, match, a))));
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

  l4Verdict(flow: FlowVerdict, q: FlowQuery, audited = false): void {
    const audit = audited && !flow.allowed;
    // One verdict per enforcement point the connection reached (an audited denial goes on).
    this.countL4Side(flow.egress, audit);
    if (flow.egress.allowed || audit) this.countL4Side(flow.ingress, audit);
    if (flow.allowed) return;

    const side = recordSide({ allowed: false, egress: flow.egress, ingress: flow.ingress, headerOps: [], logs: [] });
    // Dropped in the kernel's sense only when it really was: an audited flow went through.
    if (!audit) {
      this.dropCell(denyReason(side), q.protocol).inc();
      this.pairOf(flow).deniedCell(q.protocol.toLowerCase(), policyRef(side.decidedBy)).inc();
    }
    const verdict: FlowVerdictName = audit ? "AUDIT" : "DROPPED";
    if (this.sampler.admitDenied(this.now())) this.emit(l4DeniedRecord(flow, q, this.isoNow(), audit));
    else this.recordCells[verdict].limited.inc();
  }

  l7Request(ex: L7Exchange): void {
    const v = ex.verdict;
    const audited = v.audit === true;
    const side = recordSide(v);
    const pair = this.pairOf(ex.flow);
    const protocol = ex.detail.protocol;
    this.protocols[protocol]?.count(ex, { pair, reporter: REPORTER_INDEX[reporterOf(side.direction)] });
    this.verdictCellAt(side.direction, L7_MATCH[protocol], v.allowed, audited).inc();

    // Reading a clock costs about as much as the rest of this method: the request's own
    // reading serves, when the data path took one.
    const now = ex.startedAtMs ?? this.now();
    if (v.allowed && !audited) {
      if (this.sampler.admitForwarded(now)) this.emitL7(ex, this.recordCells.FORWARDED.written);
      else this.recordCells.FORWARDED.limited.inc();
      return;
    }
    // Denied requests are what app teams watch; audited ones are what a rollout would deny.
    if (!audited) pair.deniedCell(protocol, policyRef(side.decidedBy)).inc();
    const cells = audited ? this.recordCells.AUDIT : this.recordCells.DROPPED;
    if (this.sampler.admitDenied(now)) this.emitL7(ex, cells.written);
    else cells.limited.inc();
  }

  parseError(code: ErrorCode): void {
    let cell = this.parseErrors.get(code);
    if (cell === undefined) {
      cell = this.metrics.parseErrorsTotal.bind(code);
      this.parseErrors.set(code, cell);
    }
    cell.inc();
  }

  connectionError(code: ErrorCode, detail: string): void {
    let cell = this.connectionErrors.get(code);
    if (cell === undefined) {
      cell = this.metrics.connectionErrorsTotal.bind(code);
      this.connectionErrors.set(code, cell);
    }
    cell.inc();
    const log = this.eventLogger;
    if (log === null || !log.isLevelEnabled("warn")) return;
    // A flood of failing connections (an upstream down under load) must not flood the log:
    // a few lines a second, and how many were left out.
    const second = Math.floor(Date.now() / 1000);
    const w = this.errorLogWindow;
    if (second !== w.second) {
      if (w.suppressed > 0) log.warn({ suppressed: w.suppressed }, "connection errors not logged (rate limited)");
      this.errorLogWindow = { second, logged: 0, suppressed: 0 };
    }
    if (this.errorLogWindow.logged >= CONNECTION_ERROR_LOGS_PER_SECOND) {
      this.errorLogWindow.suppressed++;
      return;
    }
    this.errorLogWindow.logged++;
    log.warn({ code, detail }, "connection error");
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
  private emitL7(ex: L7Exchange, written: CounterCell): void {
    written.inc();
    const time = this.isoNow();
    this.flows.push(new L7RecordSource(ex, time, this.recordOptions));
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

  private countL4Side(side: SideVerdict, audited: boolean): void {
    if (!side.enforced) return;
    this.verdictCell(side.direction, l4MatchOf(side.decidedBy), side.allowed, audited && !side.allowed).inc();
  }

  private verdictCell(direction: Direction, match: Match, allowed: boolean, audited: boolean): CounterCell {
    return this.verdictCellAt(direction, MATCHES.indexOf(match), allowed, audited);
  }

  private verdictCellAt(direction: Direction, matchIndex: number, allowed: boolean, audited: boolean): CounterCell {
    return this.verdictCells[DIRECTION_INDEX[direction]]![matchIndex]![actionIndex(allowed, audited)]!;
  }

  private dropCell(reason: DenyReason, protocol: string): CounterCell {
    return this.dropCells[reason][protocol] ?? this.metrics.hubbleDropTotal.bind(reason, protocol);
  }
}
