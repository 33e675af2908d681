// CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy rules to the intermediate form.
// Semantics (see docs/semantics.md): rules with ingress/ingressDeny (egress/egressDeny) select
// their subjects in that direction; enableDefaultDeny defaults to true for a direction with
// rules; an omitted L3 peer list with toPorts is a wildcard, an empty one selects nothing;
// no toPorts means every port; features l7proxy cannot enforce make their part contribute
// nothing (never "allow"), with a warning naming the feature.

import type { EgressRule, IngressRule, LoadedCiliumPolicy, PortRule, Rule } from "../api/types.js";
import { policyRef } from "../api/types.js";
import type { Direction } from "../decision.js";
import { normalizeSelector } from "../selectors/label-selector.js";
import { scopeSubject, selectsInit } from "../selectors/implied-scope.js";
import { type IrDirection, type IrEntry, type IrRule, type L7Spec, ALL_PORTS, emptyPeer, type PeerSpec, type PortRange } from "./ir.js";
import { addCidrSet, addCidrs, addEndpointSelectors, addEntities, addFqdns, type PeerContext } from "./peers.js";
import { expandPorts } from "./ports.js";

export interface CompileContext {
  clusterName: string;
  nextRuleId(): number;
  warn(message: string): void;
}

type AnyPeerRule = IngressRule & EgressRule;

const UNSUPPORTED_PEER_FIELDS: Record<Direction, readonly (keyof AnyPeerRule)[]> = {
  ingress: ["fromGroups", "fromNodes", "fromRequires"],
  egress: ["toGroups", "toNodes", "toRequires", "toServices"],
};

function l3Present(r: AnyPeerRule, d: Direction): boolean {
  const fields: (keyof AnyPeerRule)[] =
    d === "ingress"
      ? ["fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities", ...UNSUPPORTED_PEER_FIELDS.ingress]
      : ["toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toFQDNs", ...UNSUPPORTED_PEER_FIELDS.egress];
  return fields.some((f) => r[f] !== undefined && r[f] !== null);
}

function buildPeer(r: AnyPeerRule, d: Direction, ctx: PeerContext): PeerSpec {
  const peer = emptyPeer();
  if (d === "ingress") {
    addEndpointSelectors(peer, r.fromEndpoints ?? [], ctx);
    addCidrs(peer, r.fromCIDR ?? [], ctx);
    addCidrSet(peer, r.fromCIDRSet ?? [], ctx);
    addEntities(peer, r.fromEntities ?? [], ctx);
  } else {
    addEndpointSelectors(peer, r.toEndpoints ?? [], ctx);
    addCidrs(peer, r.toCIDR ?? [], ctx);
    addCidrSet(peer, r.toCIDRSet ?? [], ctx);
    addEntities(peer, r.toEntities ?? [], ctx);
    addFqdns(peer, r.toFQDNs ?? []);
  }
  return peer;
}

function l7Of(pr: PortRule, namespace: string, warn: (m: string) => void): L7Spec | null | "skip" {
  const rules = pr.rules;
  if (rules === undefined) return null;
  if (rules.l7proto !== undefined || (rules.l7 !== undefined && rules.l7.length > 0)) {
    warn(`generic L7 rules (l7proto/l7) are not enforced by l7proxy; this port rule contributes nothing`);
    return "skip";
  }
  const kinds: L7Spec[] = [];
  if (rules.http !== undefined && rules.http.length > 0) kinds.push({ kind: "http", rules: rules.http, namespace });
  if (rules.kafka !== undefined && rules.kafka.length > 0) kinds.push({ kind: "kafka", rules: rules.kafka });
  if (rules.dns !== undefined && rules.dns.length > 0) kinds.push({ kind: "dns", rules: rules.dns });
  if (kinds.length > 1) {
    warn("several L7 rule kinds in one port rule (Cilium rejects this); it contributes nothing");
    return "skip";
  }
  return kinds[0] ?? null;
}

function portRuleEntries(
  pr: PortRule,
  base: { deny: boolean; peer: PeerSpec; d: Direction; origin: IrEntry["origin"]; namespace: string },
  warn: (m: string) => void,
): IrEntry[] {
  const tls: string[] = [];
  if (pr.terminatingTLS !== undefined) tls.push("terminatingTLS");
  if (pr.originatingTLS !== undefined) tls.push("originatingTLS");
  if (pr.serverNames !== undefined && pr.serverNames.length > 0) tls.push("serverNames");
  if (pr.listener !== undefined) tls.push("listener");
  if (tls.length > 0) {
    warn(`${tls.join(", ")} ${tls.length > 1 ? "are" : "is"} not enforced by l7proxy; this port rule contributes nothing`);
    return [];
  }
  const l7 = base.deny ? null : l7Of(pr, base.namespace, warn);
  if (l7 === "skip") return [];
  if (l7?.kind === "dns" && base.d === "ingress") {
    warn("DNS rules are not allowed on ingress; this port rule contributes nothing");
    return [];
  }
  let ports: PortRange[] = pr.ports === undefined || pr.ports.length === 0 ? [...ALL_PORTS] : pr.ports.flatMap((p) => expandPorts(p, "ANY", warn));
  // HTTP and Kafka parse TCP only: on other protocols such rules could never allow a request.
  if (l7 !== null && l7.kind !== "dns") ports = ports.filter((p) => p.protocol === "TCP");
  if (ports.length === 0) return [];
  return [{ deny: base.deny, peer: base.peer, ports, l7, origin: base.origin }];
}

function directionEntries(
  list: readonly AnyPeerRule[] | undefined,
  d: Direction,
  deny: boolean,
  fieldName: string,
  rulePath: (p: string) => { policy: string; ruleIndex: number; path: string },
  pctx: Omit<PeerContext, "warn">,
  warn: (m: string) => void,
): IrEntry[] {
  const out: IrEntry[] = [];
  (list ?? []).forEach((r, i) => {
    const path = `${fieldName}[${i}]`;
    const w = (m: string): void => warn(`${path}: ${m}`);
    const unsupported: string[] = [];
    if (r.icmps !== undefined && r.icmps.length > 0) unsupported.push("icmps");
    if (r.authentication !== undefined) unsupported.push("authentication");
    for (const f of UNSUPPORTED_PEER_FIELDS[d]) if (r[f] !== undefined) unsupported.push(f);
    if (unsupported.length > 0) {
      w(
        `${unsupported.join(", ")} ${unsupported.length > 1 ? "are" : "is"} not enforced by l7proxy; ` +
          (deny ? "this deny rule is NOT enforced" : "this rule allows nothing"),
      );
      return;
    }
    const hasL3 = l3Present(r, d);
    const toPorts = r.toPorts as PortRule[] | undefined;
    let peer: PeerSpec;
    if (hasL3) peer = buildPeer(r, d, { ...pctx, warn: w });
    else if (toPorts !== undefined && toPorts.length > 0) peer = { ...emptyPeer(), all: true };
    else return; // `{}`: selects the subject in this direction and allows nothing.
    if (toPorts === undefined || toPorts.length === 0) {
      out.push({ deny, peer, ports: [...ALL_PORTS], l7: null, origin: rulePath(path) });
      return;
    }
    toPorts.forEach((pr, j) => {
      const portPath = `${path}.toPorts[${j}]`;
      out.push(...portRuleEntries(pr, { deny, peer, d, origin: rulePath(portPath), namespace: pctx.namespace }, (m) => warn(`${portPath}: ${m}`)));
    });
  });
  return out;
}

function direction(rule: Rule, d: Direction, ref: string, ruleIndex: number, pctx: Omit<PeerContext, "warn">, warn: (m: string) => void): IrDirection {
  const allow = (d === "ingress" ? rule.ingress : rule.egress) as AnyPeerRule[] | undefined;
  const deny = (d === "ingress" ? rule.ingressDeny : rule.egressDeny) as AnyPeerRule[] | undefined;
  const present = (allow?.length ?? 0) > 0 || (deny?.length ?? 0) > 0;
  const origin = (path: string) => ({ policy: ref, ruleIndex, path });
  return {
    present,
    defaultDeny: present && (rule.enableDefaultDeny?.[d] ?? true),
    entries: [
      ...directionEntries(deny, d, true, d === "ingress" ? "ingressDeny" : "egressDeny", origin, pctx, warn),
      ...directionEntries(allow, d, false, d, origin, pctx, warn),
    ],
  };
}

export function ciliumPolicyToIr(p: LoadedCiliumPolicy, ctx: CompileContext): IrRule[] {
  const ref = policyRef(p);
  const out: IrRule[] = [];
  p.rules.forEach((rule, ruleIndex) => {
    const warn = (m: string): void => ctx.warn(`${ref} rule ${ruleIndex}: ${m}`);
    if (rule.nodeSelector !== undefined) {
      warn("nodeSelector (host policy) is not enforced by l7proxy; the rule is ignored and selects no endpoint");
      return;
    }
    if (rule.endpointSelector === undefined) {
      warn("no endpointSelector; the rule selects no endpoint");
      return;
    }
    const subject = scopeSubject(normalizeSelector(rule.endpointSelector), p.namespace);
    const pctx = { namespace: p.namespace, clusterName: ctx.clusterName, subjectSelectsInit: selectsInit(subject) };
    out.push({
      id: ctx.nextRuleId(),
      origin: { policy: ref, ruleIndex, path: "" },
      subject,
      ingress: direction(rule, "ingress", ref, ruleIndex, pctx, warn),
      egress: direction(rule, "egress", ref, ruleIndex, pctx, warn),
    });
  });
  return out;
}
