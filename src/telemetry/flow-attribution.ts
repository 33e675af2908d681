// Which side of a flow decided it, and which policy to name. Metrics and flow records both
// use these answers, so a denied request is attributed to the same policy in the counter
// app teams watch and in the record they then look up.
//
// A connection crosses two enforcement points: the source's egress, then the destination's
// ingress. A denial is attributed to the first side that denied (egress before ingress, as
// the packet would have been dropped there first). An allowed flow is attributed to the
// side that applied L7 rules, else the enforced ingress, else the enforced egress.

import type { DecidedBy, Direction, Peer, SideVerdict } from "../policy/decision.js";

/** Policy label value when no policy was in play for the deciding side. */
const NO_POLICY = "none";
const DEFAULT_DENY = "default-deny";

/** Cilium's drop reasons: 133 "Policy denied", 181 "Policy denied by denylist". */
export type DenyReason = "POLICY_DENIED" | "POLICY_DENY";

export function decidingSide(allowed: boolean, egress: SideVerdict, ingress: SideVerdict): SideVerdict {
  if (!allowed) return egress.allowed ? ingress : egress;
  if (isL7Decision(ingress.decidedBy)) return ingress;
  if (isL7Decision(egress.decidedBy)) return egress;
  if (ingress.enforced) return ingress;
  if (egress.enforced) return egress;
  return ingress;
}

function isL7Decision(d: DecidedBy): boolean {
  return d.kind === "policy" && d.layer === "l7";
}

/** "namespace/name" (or "name" for cluster-wide policies), "default-deny", or "none". */
export function policyRef(d: DecidedBy): string {
  switch (d.kind) {
    case "policy":
      return d.policy;
    case "default-deny":
      // At L7, the policy whose HTTP rules the request failed is the one to look at.
      return d.policies?.[0] ?? DEFAULT_DENY;
    case "not-enforced":
      return NO_POLICY;
  }
}

export function ruleIndex(d: DecidedBy): number | null {
  return d.kind === "policy" ? d.ruleIndex : null;
}

export function denyReason(side: SideVerdict): DenyReason {
  return side.decidedBy.kind === "policy" && side.decidedBy.action === "deny" ? "POLICY_DENY" : "POLICY_DENIED";
}

/** Hubble's reporter: the proxy observed the request for the client (egress) or the server (ingress). */
export function reporterOf(direction: Direction): "client" | "server" {
  return direction === "egress" ? "client" : "server";
}

/** Hubble's policy-verdict `match` for an L3/L4 decision. */
export function l4MatchOf(d: DecidedBy): "l3-l4" | "none" {
  return d.kind === "policy" ? "l3-l4" : "none";
}

/** Workload-level identity of a peer, the label values metrics use. */
export interface PeerLabels {
  namespace: string;
  workload: string;
  pod: string;
}

/**
 * Non-endpoint peers carry their reserved identity ("world", "host") as the workload, so
 * "top denied sources" still says where traffic came from without one series per IP.
 */
export function peerLabels(p: Peer): PeerLabels {
  if (p.endpoint !== undefined) {
    return { namespace: p.endpoint.namespace, workload: p.endpoint.workload, pod: p.endpoint.name };
  }
  const reserved = p.reserved ?? "world";
  return { namespace: "", workload: reserved, pod: "" };
}
