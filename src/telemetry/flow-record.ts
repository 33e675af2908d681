// One flow record: the JSON line written per L7 request and per L3/L4-denied connection,
// kept in the /flows ring and printed by `l7proxy observe`. Field names follow Hubble's
// flow (verdict FORWARDED/DROPPED, source/destination with namespace, pod, workload and
// labels, http {method, url, protocol, code}), plus what Hubble often cannot say: the
// policy and rule index that decided.

import type { Direction, FlowQuery, FlowVerdict, Peer, SideVerdict } from "../policy/decision.js";
import type { HttpExchange } from "../datapath/observer.js";
import { decidingSide, denyReason, peerLabels, policyRef, ruleIndex, type DenyReason } from "./flow-attribution.js";
import { redactHeaders, redactUrl, type RecordedHeader, type UrlRedaction } from "./redact.js";

export type FlowVerdictName = "FORWARDED" | "DROPPED";

export interface FlowEndpoint {
  namespace: string;
  pod: string;
  workload: string;
  labels: Readonly<Record<string, string>>;
  ip: string;
  port: number;
  /** Reserved identity of a non-endpoint peer ("world", "host"). */
  identity?: string;
}

export interface FlowPolicy {
  /** "namespace/name" ("name" for cluster-wide policies), "default-deny", or "none". */
  ref: string;
  ruleIndex: number | null;
  direction: Direction;
}

export interface FlowSide extends FlowPolicy {
  allowed: boolean;
}

export interface FlowHttp {
  method: string;
  url: string;
  host: string;
  protocol: string;
  code: number;
  latency: { proxySeconds: number; upstreamSeconds: number | null };
  headers?: RecordedHeader[];
}

export interface FlowRecord {
  /** ISO 8601. */
  time: string;
  verdict: FlowVerdictName;
  /** "L7" for a request, "L3_L4" for a connection denied before any request was read. */
  type: "L7" | "L3_L4";
  /** "http" (and later "kafka", "dns") for L7 records; "tcp"/"udp"/"sctp" for L3/L4 ones. */
  protocol: string;
  direction: Direction;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  /** The policy that decided: for a drop, the one that denied it. */
  policy: FlowPolicy;
  /** Every enforced side and what it decided (a flow may need both egress and ingress). */
  sides: FlowSide[];
  denyReason?: DenyReason;
  http?: FlowHttp;
  /** Notes from the decision, e.g. headerMatches mismatches. */
  logs?: string[];
}

export function endpointOf(p: Peer, port: number): FlowEndpoint {
  const l = peerLabels(p);
  const ep: FlowEndpoint = {
    namespace: l.namespace,
    pod: l.pod,
    workload: l.workload,
    labels: p.endpoint?.labels ?? {},
    ip: p.ip,
    port,
  };
  if (p.endpoint === undefined) ep.identity = p.reserved ?? "world";
  return ep;
}

export function policyOf(side: SideVerdict): FlowPolicy {
  return { ref: policyRef(side.decidedBy), ruleIndex: ruleIndex(side.decidedBy), direction: side.direction };
}

export function sideOf(s: SideVerdict): FlowSide {
  // Fields named, not spread: a spread copies through V8's slow generic path.
  return { ref: policyRef(s.decidedBy), ruleIndex: ruleIndex(s.decidedBy), direction: s.direction, allowed: s.allowed };
}

/** The enforced sides the flow reached: once egress denies, ingress never sees the packet. */
export function reachedSides(egress: SideVerdict, ingress: SideVerdict): SideVerdict[] {
  if (!egress.allowed) return egress.enforced ? [egress] : [];
  if (egress.enforced) return ingress.enforced ? [egress, ingress] : [egress];
  return ingress.enforced ? [ingress] : [];
}

function sidesOf(egress: SideVerdict, ingress: SideVerdict): FlowSide[] {
  return reachedSides(egress, ingress).map(sideOf);
}

/** The record for a connection denied at L3/L4. */
export function l4DeniedRecord(flow: FlowVerdict, q: FlowQuery, time: string): FlowRecord {
  const side = decidingSide(false, flow.egress, flow.ingress);
  return {
    time,
    verdict: "DROPPED",
    type: "L3_L4",
    protocol: q.protocol.toLowerCase(),
    direction: side.direction,
    source: endpointOf(flow.source, q.srcPort ?? 0),
    destination: endpointOf(flow.destination, q.dstPort),
    policy: policyOf(side),
    sides: sidesOf(flow.egress, flow.ingress),
    denyReason: denyReason(side),
  };
}

export interface HttpRecordOptions {
  redact: UrlRedaction;
}

/** The `http` part of a request's record. */
export function httpPart(ex: HttpExchange, opts: HttpRecordOptions): FlowHttp {
  const http: FlowHttp = {
    method: ex.method,
    url: redactUrl(ex.url, opts.redact),
    host: ex.host,
    protocol: ex.protocol,
    code: ex.status,
    latency: { proxySeconds: ex.proxyLatencySeconds, upstreamSeconds: ex.upstreamLatencySeconds ?? null },
  };
  if (ex.headers !== undefined) http.headers = redactHeaders(ex.headers);
  return http;
}

/** The record for one HTTP request, allowed or denied. */
export function httpRecord(ex: HttpExchange, time: string, opts: HttpRecordOptions): FlowRecord {
  const v = ex.verdict;
  const side = decidingSide(v.allowed, v.egress, v.ingress);
  const rec: FlowRecord = {
    time,
    verdict: v.allowed ? "FORWARDED" : "DROPPED",
    type: "L7",
    protocol: "http",
    direction: side.direction,
    source: endpointOf(ex.flow.source, ex.query.srcPort ?? 0),
    destination: endpointOf(ex.flow.destination, ex.query.dstPort),
    policy: policyOf(side),
    sides: sidesOf(v.egress, v.ingress),
    http: httpPart(ex, opts),
  };
  if (!v.allowed) rec.denyReason = denyReason(side);
  if (v.logs.length > 0) rec.logs = [...v.logs];
  return rec;
}
