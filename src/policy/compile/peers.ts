// Building a PeerSpec from the L3 fields of a Cilium rule or a NetworkPolicy peer: endpoint
// selectors (with the implied namespace and cluster), entities, CIDRs with `except`, and FQDN
// selectors. What l7proxy cannot resolve contributes nothing and produces a warning.

import type { CIDRRule, EndpointSelector, FQDNSelector } from "../api/types.js";
import { parseCidr } from "../net/ip.js";
import { normalizeSelector } from "../selectors/label-selector.js";
import { scopePeer } from "../selectors/implied-scope.js";
import type { CidrPeer, PeerSpec } from "./ir.js";

export interface PeerContext {
  namespace: string;
  clusterName: string;
  subjectSelectsInit: boolean;
  warn(message: string): void;
}

/** Entities whose identities l7proxy has no addresses for (no node or host inventory yet). */
const UNKNOWN_ENTITIES = new Set(["host", "remote-node", "init", "ingress", "health", "unmanaged", "kube-apiserver"]);

export function addEndpointSelectors(peer: PeerSpec, sels: readonly EndpointSelector[], ctx: PeerContext): void {
  for (const raw of sels) {
    peer.selectors.push(scopePeer(normalizeSelector(raw), ctx.namespace, ctx.clusterName, ctx.subjectSelectsInit));
  }
}

export function addEntities(peer: PeerSpec, entities: readonly string[], ctx: PeerContext): void {
  for (const e of entities) {
    const name = e.toLowerCase();
    if (name === "all") peer.all = true;
    else if (name === "world" || name === "world-ipv4" || name === "world-ipv6") peer.world = true;
    else if (name === "cluster") peer.cluster = true;
    else if (name === "none") continue;
    else if (UNKNOWN_ENTITIES.has(name)) {
      ctx.warn(`entity "${e}" selects identities l7proxy has no addresses for; it contributes nothing`);
    } else ctx.warn(`unknown entity "${e}" contributes nothing`);
  }
}

function cidrPeer(cidr: string, except: readonly string[], ctx: PeerContext): CidrPeer | undefined {
  const range = parseCidr(cidr);
  if (range === undefined) {
    ctx.warn(`invalid CIDR "${cidr}" contributes nothing`);
    return undefined;
  }
  const ex = [];
  for (const e of except) {
    const r = parseCidr(e);
    // An except we cannot read must not be dropped (that would widen the rule): drop the rule.
    if (r === undefined) {
      ctx.warn(`invalid except CIDR "${e}": the whole CIDR rule ${cidr} contributes nothing`);
      return undefined;
    }
    ex.push(r);
  }
  return { range, except: ex };
}

export function addCidrs(peer: PeerSpec, cidrs: readonly string[], ctx: PeerContext): void {
  for (const c of cidrs) {
    const p = cidrPeer(c, [], ctx);
    if (p !== undefined) peer.cidrs.push(p);
  }
}

export function addCidrSet(peer: PeerSpec, rules: readonly CIDRRule[], ctx: PeerContext): void {
  for (const r of rules) {
    if (r.cidr === undefined || r.cidr === "") {
      ctx.warn("cidrGroupRef / cidrGroupSelector (CiliumCIDRGroup) are not resolved by l7proxy; this CIDR rule contributes nothing");
      continue;
    }
    const p = cidrPeer(r.cidr, r.except ?? [], ctx);
    if (p !== undefined) peer.cidrs.push(p);
  }
}

export function addFqdns(peer: PeerSpec, sels: readonly FQDNSelector[]): void {
  for (const s of sels) peer.fqdns.push(s);
}
