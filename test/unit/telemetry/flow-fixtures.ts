// Plain FlowVerdict / L7Verdict values for telemetry tests, shaped as the policy engine
// returns them for the Star Wars example (tiefighter -> deathstar:80, rule1).

import type { HttpDetail, L7Exchange } from "../../../src/datapath/observer.js";
import type { DecidedBy, FlowQuery, FlowVerdict, L7Verdict, Peer, SideVerdict } from "../../../src/policy/decision.js";

export const tiefighter: Peer = {
  ip: "10.0.0.11",
  endpoint: { namespace: "default", name: "tiefighter", workload: "tiefighter", labels: { org: "empire", class: "tiefighter" } },
};
export const xwing: Peer = {
  ip: "10.0.0.12",
  endpoint: { namespace: "rebels", name: "xwing-7d9f", workload: "xwing", labels: { org: "alliance", class: "xwing" } },
};
export const deathstar: Peer = {
  ip: "10.0.0.21",
  endpoint: { namespace: "default", name: "deathstar-1", workload: "deathstar", labels: { org: "empire", class: "deathstar" } },
};
export const world: Peer = { ip: "203.0.113.9", reserved: "world" };

export const RULE1: DecidedBy = { kind: "policy", policy: "default/rule1", ruleIndex: 0, action: "allow", layer: "l7" };

export function side(direction: "ingress" | "egress", decidedBy: DecidedBy, allowed: boolean, enforced = true): SideVerdict {
  return { direction, enforced, allowed, decidedBy };
}

const notEnforcedEgress = side("egress", { kind: "not-enforced" }, true, false);

/** Connection allowed at L3/L4 with L7 rules on the destination's ingress. */
export function l7Flow(source: Peer = tiefighter, destination: Peer = deathstar): FlowVerdict {
  return {
    allowed: true,
    source,
    destination,
    egress: notEnforcedEgress,
    ingress: side("ingress", RULE1, true),
    l7: "http",
  };
}

/** Connection denied at L3/L4 by ingress default deny. */
export function l4DeniedFlow(source: Peer = xwing, destination: Peer = deathstar): FlowVerdict {
  return {
    allowed: false,
    source,
    destination,
    egress: notEnforcedEgress,
    ingress: side("ingress", { kind: "default-deny" }, false),
    l7: null,
  };
}

export function query(flow: FlowVerdict, dstPort = 80, srcPort = 40000): FlowQuery {
  return { srcIp: flow.source.ip, dstIp: flow.destination.ip, dstPort, srcPort, protocol: "TCP" };
}

export function l7Verdict(allowed: boolean, decidedBy: DecidedBy = allowed ? RULE1 : { kind: "default-deny" }): L7Verdict {
  return { allowed, egress: notEnforcedEgress, ingress: side("ingress", decidedBy, allowed), headerOps: [], logs: [] };
}

/** The fields a test may set: the exchange's own and its HTTP detail's, flat. */
export interface ExchangeOverrides {
  allowed?: boolean;
  flow?: FlowVerdict;
  query?: FlowQuery;
  verdict?: L7Verdict;
  method?: string;
  url?: string;
  host?: string;
  protocol?: HttpDetail["version"];
  status?: number;
  headers?: [string, string][];
  grpc?: HttpDetail["grpc"];
  proxyLatencySeconds?: number;
  upstreamLatencySeconds?: number;
  startedAtMs?: number;
}

export function exchange(over: ExchangeOverrides = {}): L7Exchange<HttpDetail> {
  const { allowed = true } = over;
  const flow = over.flow ?? l7Flow();
  const detail: HttpDetail = {
    protocol: "http",
    method: over.method ?? (allowed ? "POST" : "PUT"),
    url: over.url ?? (allowed ? "/v1/request-landing" : "/v1/exhaust-port"),
    host: over.host ?? "deathstar.default.svc.cluster.local",
    version: over.protocol ?? "HTTP/1.1",
    status: over.status ?? (allowed ? 200 : 403),
  };
  if (over.headers !== undefined) detail.headers = over.headers;
  if (over.grpc !== undefined) detail.grpc = over.grpc;
  return {
    flow,
    query: over.query ?? query(flow),
    verdict: over.verdict ?? l7Verdict(allowed),
    proxyLatencySeconds: over.proxyLatencySeconds ?? 0.0004,
    upstreamLatencySeconds: "upstreamLatencySeconds" in over ? over.upstreamLatencySeconds : allowed ? 0.003 : undefined,
    startedAtMs: over.startedAtMs,
    detail,
  };
}
