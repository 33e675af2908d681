// Kubernetes NetworkPolicy to the intermediate form, as Cilium translates it
// (pkg/k8s/network_policy.go ParseNetworkPolicy):
// - the subject is podSelector (k8s source) in the policy's namespace; always default deny;
// - each from/to peer is its own entry; empty or missing from/to = every identity;
// - namespaceSelector keys become io.cilium.k8s.namespace.labels.* and are ANDed with the
//   podSelector; an empty namespaceSelector means every namespace; without one, the policy's;
// - ipBlock is a CIDR rule with except (it never selects cluster endpoints);
// - ports: protocol defaults to TCP, a missing port means every port, endPort is a range;
// - policyTypes: ingress is selected when there are ingress rules, or policyTypes lists
//   Ingress, or does not list Egress; egress when there are egress rules or it lists Egress.
//   (Cilium translates listed ingress/egress rules even when policyTypes omits that direction;
//   the Kubernetes API says they are ignored then. We follow Cilium: see docs/semantics.md.)

import type { K8sLabelSelector, LoadedNetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from "../api/types.js";
import { policyRef } from "../api/types.js";
import type { Direction } from "../decision.js";
import { LABEL_CLUSTER, LABEL_NAMESPACE_LABELS_PREFIX, LABEL_POD_NAMESPACE, SOURCE_K8S } from "../labels/identity.js";
import { type LabelSelector, type Requirement, normalizeSelector } from "../selectors/label-selector.js";
import { scopeSubject } from "../selectors/implied-scope.js";
import type { CompileContext } from "./cilium-rule.js";
import { type IrDirection, type IrEntry, type IrRule, ALL_PORTS, emptyPeer, type PeerSpec, type PortRange } from "./ir.js";
import { expandPorts } from "./ports.js";
import { parseCidr } from "../net/ip.js";

function peerSelector(peer: NetworkPolicyPeer, namespace: string, clusterName: string): LabelSelector {
  const pod = normalizeSelector(peer.podSelector ?? {}, SOURCE_K8S);
  const reqs: Requirement[] = [...pod.requirements];
  if (peer.namespaceSelector !== undefined) {
    const ns = nsSelector(peer.namespaceSelector);
    if (ns.length === 0) reqs.push({ source: SOURCE_K8S, key: LABEL_POD_NAMESPACE, op: "Exists", values: new Set() });
    else reqs.push(...ns);
  } else {
    reqs.push({ source: SOURCE_K8S, key: LABEL_POD_NAMESPACE, op: "In", values: new Set([namespace]) });
  }
  if (clusterName !== "" && !reqs.some((r) => r.key === LABEL_CLUSTER)) {
    reqs.push({ source: SOURCE_K8S, key: LABEL_CLUSTER, op: "In", values: new Set([clusterName]) });
  }
  return { requirements: reqs };
}

function nsSelector(sel: K8sLabelSelector): Requirement[] {
  return normalizeSelector(sel, SOURCE_K8S).requirements.map((r) => ({ ...r, key: LABEL_NAMESPACE_LABELS_PREFIX + r.key }));
}

function peerSpec(peer: NetworkPolicyPeer, p: LoadedNetworkPolicy, ctx: CompileContext, warn: (m: string) => void): PeerSpec {
  const spec = emptyPeer();
  if (peer.ipBlock !== undefined) {
    const range = parseCidr(peer.ipBlock.cidr);
    const except = (peer.ipBlock.except ?? []).map((e) => parseCidr(e));
    if (range === undefined || except.some((e) => e === undefined)) warn(`invalid ipBlock ${peer.ipBlock.cidr}; it contributes nothing`);
    else spec.cidrs.push({ range, except: except.filter((e) => e !== undefined) });
  }
  if (peer.podSelector !== undefined || peer.namespaceSelector !== undefined) {
    spec.selectors.push(peerSelector(peer, p.namespace, ctx.clusterName));
  }
  return spec;
}

function portRanges(ports: readonly NetworkPolicyPort[] | undefined, warn: (m: string) => void): PortRange[] {
  if (ports === undefined || ports.length === 0) return [...ALL_PORTS];
  return ports.flatMap((port) => expandPorts(port, "TCP", warn));
}

function direction(p: LoadedNetworkPolicy, d: Direction, ctx: CompileContext, present: boolean): IrDirection {
  const ref = policyRef(p);
  const rules = (d === "ingress" ? p.spec.ingress : p.spec.egress) ?? [];
  const entries: IrEntry[] = [];
  rules.forEach((r, i) => {
    const path = `spec.${d}[${i}]`;
    const warn = (m: string): void => ctx.warn(`${ref}: ${path}: ${m}`);
    const peers = (d === "ingress" ? (r as { from?: NetworkPolicyPeer[] }).from : (r as { to?: NetworkPolicyPeer[] }).to) ?? [];
    const ports = portRanges(r.ports, warn);
    if (ports.length === 0) return;
    const origin = { policy: ref, ruleIndex: 0, path };
    if (peers.length === 0) {
      entries.push({ deny: false, peer: { ...emptyPeer(), all: true }, ports, l7: null, origin });
      return;
    }
    peers.forEach((peer, j) => {
      const where = `${path}.${d === "ingress" ? "from" : "to"}[${j}]`;
      const spec = peerSpec(peer, p, ctx, (m) => ctx.warn(`${ref}: ${where}: ${m}`));
      entries.push({ deny: false, peer: spec, ports, l7: null, origin: { ...origin, path: where } });
    });
  });
  return { present, defaultDeny: present, entries };
}

export function networkPolicyToIr(p: LoadedNetworkPolicy, ctx: CompileContext): IrRule {
  const types = p.spec.policyTypes ?? [];
  const hasIngressRules = (p.spec.ingress?.length ?? 0) > 0;
  const hasEgressRules = (p.spec.egress?.length ?? 0) > 0;
  const ingressPresent = hasIngressRules || types.includes("Ingress") || !types.includes("Egress");
  const egressPresent = hasEgressRules || types.includes("Egress");
  return {
    id: ctx.nextRuleId(),
    origin: { policy: policyRef(p), ruleIndex: 0, path: "spec" },
    subject: scopeSubject(normalizeSelector(p.spec.podSelector ?? {}, SOURCE_K8S), p.namespace),
    ingress: direction(p, "ingress", ctx, ingressPresent),
    egress: direction(p, "egress", ctx, egressPresent),
  };
}
