// What the policy says about one endpoint's port, reduced to the shape HAProxy can express:
// which source addresses may connect, which may not, and which HTTP rules each allowed peer
// has. Built from the same intermediate form l7proxy compiles (policiesToIr), with peers
// resolved against the same endpoint identities, so both proxies enforce one policy file.
//
// Anything HAProxy could not enforce identically (world and FQDN peers, CIDR exceptions,
// header mismatch actions, secrets, Kafka/DNS rules) is refused with a clear error rather
// than approximated: a benchmark against a weaker policy would flatter the peer.

import type { LoadedPolicy, PortRuleHTTP } from "../../../src/policy/api/types.js";
import { policiesToIr } from "../../../src/policy/compile/index.js";
import type { IrEntry, IrRule, PeerSpec } from "../../../src/policy/compile/ir.js";
import type { EndpointInventory } from "../../../src/policy/endpoints/types.js";
import { endpointIdentity, type Identity } from "../../../src/policy/labels/identity.js";
import { selectorMatches } from "../../../src/policy/selectors/label-selector.js";

/** Source addresses (IPs or CIDRs), or every source. */
export type Sources = "all" | string[];

export interface PortEntry {
  deny: boolean;
  sources: Sources;
  /** null: every request from these sources is allowed (L3/L4 rule, or an empty HTTP list). */
  http: PortRuleHTTP[] | null;
  /** Where the entry came from, for comments in the generated file. */
  origin: string;
}

export type PortPolicy = { enforced: false } | { enforced: true; entries: PortEntry[] };

export class UnsupportedPolicyError extends Error {}

export function portPolicyFor(
  policies: readonly LoadedPolicy[],
  inventory: EndpointInventory,
  endpointName: string,
  port: number,
  clusterName = "default",
): PortPolicy {
  let nextId = 0;
  const warnings: string[] = [];
  const ir = policiesToIr(policies, { clusterName, nextRuleId: () => nextId++, warn: (m) => warnings.push(m) });
  const nsByName = new Map(inventory.namespaces.map((n) => [n.name, n]));
  const identities = inventory.endpoints.map((e) => endpointIdentity(e, nsByName.get(e.namespace), clusterName));
  const index = inventory.endpoints.findIndex((e) => e.name === endpointName);
  if (index < 0) throw new UnsupportedPolicyError(`no endpoint named ${endpointName} in the inventory`);
  const subject = identities[index] as Identity;
  const selecting = ir.filter((r) => r.ingress.present && selectorMatches(r.subject, subject));
  if (selecting.length === 0) return { enforced: false };
  // Without default deny Cilium adds a wildcard allow: nothing is enforced on this port.
  if (!selecting.some((r) => r.ingress.defaultDeny)) return { enforced: false };
  const entries: PortEntry[] = [];
  for (const rule of selecting) {
    for (const e of rule.ingress.entries) {
      if (!coversPort(e, port)) continue;
      entries.push(toPortEntry(rule, e, inventory, identities));
    }
  }
  return { enforced: true, entries };
}

function coversPort(e: IrEntry, port: number): boolean {
  return e.ports.some((p) => p.protocol === "TCP" && p.lo <= port && port <= p.hi);
}

function toPortEntry(rule: IrRule, e: IrEntry, inventory: EndpointInventory, identities: readonly Identity[]): PortEntry {
  const origin = `${rule.origin.policy} ${e.origin.path}`.trim();
  const sources = sourcesOf(e.peer, inventory, identities, origin);
  if (e.l7 === null) return { deny: e.deny, sources, http: null, origin };
  if (e.l7.kind !== "http") throw new UnsupportedPolicyError(`${origin}: ${e.l7.kind} rules have no HAProxy equivalent here`);
  for (const r of e.l7.rules) {
    for (const h of r.headerMatches ?? []) {
      if (h.secret !== undefined || h.mismatch !== undefined) {
        throw new UnsupportedPolicyError(`${origin}: headerMatches with secrets or mismatch actions are not generated for HAProxy`);
      }
    }
  }
  return { deny: e.deny, sources, http: e.l7.rules.length === 0 ? null : e.l7.rules, origin };
}

function sourcesOf(peer: PeerSpec, inventory: EndpointInventory, identities: readonly Identity[], origin: string): Sources {
  if (peer.all) return "all";
  if (peer.world || peer.fqdns.length > 0) {
    throw new UnsupportedPolicyError(`${origin}: world and FQDN peers are not generated for HAProxy`);
  }
  const out = new Set<string>();
  inventory.endpoints.forEach((ep, i) => {
    const id = identities[i] as Identity;
    if (peer.cluster || peer.selectors.some((s) => selectorMatches(s, id))) for (const ip of ep.ips) out.add(ip);
  });
  for (const c of peer.cidrs) {
    if (c.except.length > 0) throw new UnsupportedPolicyError(`${origin}: CIDR exceptions are not generated for HAProxy`);
    out.add(c.range.text);
  }
  return [...out].sort();
}
