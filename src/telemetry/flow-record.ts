// One flow record: the JSON line written per L7 request and per L3/L4-denied connection,
// kept in the /flows ring and printed by `l7proxy observe`. Field names follow Hubble's
// flow (verdict FORWARDED/DROPPED, source/destination with namespace, pod, workload and
// labels, http {method, url, protocol, code}), plus what Hubble often cannot say: the
// policy and rule index that decided.

import type { Direction, FlowQuery, FlowVerdict, L7Verdict, Peer, SideVerdict } from "../policy/decision.js";
import type { L7Exchange } from "../datapath/observer.js";
import { decidingSide, denyReason, peerLabels, policyRef, ruleIndex, type DenyReason } from "./flow-attribution.js";
import type { FlowHttp } from "./protocols/http.js";
import { protocolTelemetry } from "./protocols/index.js";
import type { RecordOptions } from "./protocols/protocol-telemetry.js";

export type { FlowHttp } from "./protocols/http.js";

/** AUDIT: policy denied it, policy audit mode forwarded it (Hubble's verdict of the same name). */
export type FlowVerdictName = "FORWARDED" | "DROPPED" | "AUDIT";
export const FLOW_VERDICTS: readonly FlowVerdictName[] = ["FORWARDED", "DROPPED", "AUDIT"];

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

export interface FlowRecord {
  /** ISO 8601. */
  time: string;
  verdict: FlowVerdictName;
  /** "L7" for a request, "L3_L4" for a connection denied before any request was read. */
  type: "L7" | "L3_L4";
  /** "http", "kafka" or "dns" for L7 records; "tcp"/"udp"/"sctp" for L3/L4 ones. */
  protocol: string;
  direction: Direction;
  source: FlowEndpoint;
  destination: FlowEndpoint;
  /** The policy that decided: for a drop, the one that denied it. */
  policy: FlowPolicy;
  /** Every enforced side and what it decided (a flow may need both egress and ingress). */
  sides: FlowSide[];
  /** Why policy denied it (DROPPED, and AUDIT: what would have been dropped). */
  denyReason?: DenyReason;
  http?: FlowHttp;
  kafka?: Record<string, unknown>;
  dns?: Record<string, unknown>;
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

/** The record's verdict: what happened, and for AUDIT what policy said of it. */
export function verdictName(v: Pick<L7Verdict, "allowed" | "audit">): FlowVerdictName {
  return v.audit === true ? "AUDIT" : v.allowed ? "FORWARDED" : "DROPPED";
}

/** The side named as deciding: for an audited request, the one that would have denied it. */
export function recordSide(v: L7Verdict): SideVerdict {
  return decidingSide(v.allowed && v.audit !== true, v.egress, v.ingress);
}

/** The record for a connection denied at L3/L4 (audited: forwarded by policy audit mode). */
export function l4DeniedRecord(flow: FlowVerdict, q: FlowQuery, time: string, audited = false): FlowRecord {
  const side = decidingSide(false, flow.egress, flow.ingress);
  return {
    time,
    verdict: audited ? "AUDIT" : "DROPPED",
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

/** The protocol part of a request's record: `{http: ...}` and the like. */
export function protocolPart(ex: L7Exchange, opts: RecordOptions): unknown {
  const t = protocolTelemetry(ex.detail.protocol);
  return t === undefined ? null : t.record.part(ex as never, opts);
}

/** The record for one L7 request of any protocol, allowed, denied or audited. */
export function l7Record(ex: L7Exchange, time: string, opts: RecordOptions): FlowRecord {
  const v = ex.verdict;
  const side = recordSide(v);
  const protocol = ex.detail.protocol;
  const rec: FlowRecord = {
    time,
    verdict: verdictName(v),
    type: "L7",
    protocol,
    direction: side.direction,
    source: endpointOf(ex.flow.source, ex.query.srcPort ?? 0),
    destination: endpointOf(ex.flow.destination, ex.query.dstPort),
    policy: policyOf(side),
    sides: sidesOf(v.egress, v.ingress),
  };
  (rec as unknown as Record<string, unknown>)[protocol] = protocolPart(ex, opts);
  if (!v.allowed || v.audit === true) rec.denyReason = denyReason(side);
  if (v.logs.length > 0) rec.logs = [...v.logs];
  return rec;
}
