// L3/L4 policy for everything that is not TCP (UDP, SCTP, ICMP, ...) to ingress-enforced and
// from egress-enforced addresses, enforced by nftables itself: datagrams never reach the
// proxy, so the kernel must drop what decideFlow would deny (PolicySnapshot.nonTcpPolicy()).
//
// Where: the same prerouting chain (priority dstnat + 10) sends every non-TCP packet here, so
// a datagram to a Service VIP is decided on the endpoint behind it, pod-to-pod and
// pod-to-node traffic are both covered, and the node's own traffic (output) is not, exactly
// as for TCP (Cilium lets the local host reach its endpoints by default, too).
//
// How a packet is decided:
//   1. Packets in conntrack's reply direction (answers to a datagram that was allowed) and
//      ICMP errors related to a tracked flow pass. Only the reply direction: a client's next
//      datagram is decided again, so removing an allowance stops it at once, even on a
//      conntrack entry that is still alive.
//   2. IPv6 neighbour and router discovery pass: without it no IPv6 address works at all
//      (Cilium answers it in BPF, before policy).
//   3. Ingress (destination enforced), then egress (source enforced): a packet must pass both.
//      Anything but UDP and SCTP is dropped (ICMP echo included: `icmps` rules are not
//      enforced, so they allow nothing). Then deny rules drop, allow rules pass, the rest is
//      dropped.
//   Peers are looked up in one of two sets, as decideFlow matches them: an endpoint's address
//   only by endpoint selectors, any other address only by CIDR / world / all.
//
// Sets are concatenations `local address . protocol . port . peer` with interval flags, so one
// lookup answers ranges and prefixes in every field; nftables refuses overlapping elements,
// which nonTcpPolicy() never produces (its rules are disjoint per address and protocol).

import net from "node:net";
import type { NonTcpRule } from "../policy/decision.js";
import { canonicalIp } from "../policy/net/ip.js";
import type { InterceptSpec } from "./rules-spec.js";

type Family = 4 | 6;
type Side = "in" | "eg";
type PeerClass = "ep" | "net";
type Verdict = "allow" | "deny";

const FAMILIES: readonly Family[] = [4, 6];
const SIDES: readonly Side[] = ["in", "eg"];
const CLASSES: readonly PeerClass[] = ["ep", "net"];
const VERDICTS: readonly Verdict[] = ["deny", "allow"];

/** Name of the regular chain that decides non-TCP packets (jumped to from prerouting). */
export const NFT_DATAGRAM_CHAIN = "datagrams";

function endpointSetName(family: Family): string {
  return `endpoint${family}`;
}

function ruleSetName(side: Side, family: Family, peer: PeerClass, verdict: Verdict): string {
  return `${side}${family}_${peer}_${verdict}`;
}

/** Every set this file owns, with its elements, in a stable order. */
export function datagramSets(spec: InterceptSpec): Array<{ name: string; type: string; interval: boolean; elements: string[] }> {
  const policy = spec.nonTcp ?? { endpointIps: [], allow: [], deny: [] };
  const out: Array<{ name: string; type: string; interval: boolean; elements: string[] }> = [];
  for (const family of FAMILIES) {
    const addr = family === 4 ? "ipv4_addr" : "ipv6_addr";
    const endpoints = [...new Set(policy.endpointIps.filter((ip) => net.isIP(ip) === family).map((ip) => canonicalIp(ip) ?? ip))].sort();
    out.push({ name: endpointSetName(family), type: addr, interval: false, elements: endpoints });
    for (const side of SIDES) {
      for (const peer of CLASSES) {
        for (const verdict of VERDICTS) {
          const rules = (verdict === "allow" ? policy.allow : policy.deny).filter(
            (r) => r.direction === (side === "in" ? "ingress" : "egress") && net.isIP(r.ip) === family,
          );
          out.push({
            name: ruleSetName(side, family, peer, verdict),
            type: `${addr} . inet_proto . inet_service . ${addr}`,
            interval: true,
            elements: rules.flatMap((r) => elements(r, peer)),
          });
        }
      }
    }
  }
  return out;
}

function elements(r: NonTcpRule, peer: PeerClass): string[] {
  const ports = r.portLo === r.portHi ? String(r.portLo) : `${r.portLo}-${r.portHi}`;
  const local = canonicalIp(r.ip) ?? r.ip;
  const peers = peer === "ep" ? r.endpointPeers : r.otherPeers;
  return peers.map((p) => `${local} . ${r.protocol.toLowerCase()} . ${ports} . ${p}`);
}

/** Set declarations for the table body. */
export function renderDatagramSets(spec: InterceptSpec): string[] {
  return datagramSets(spec).map((s) => {
    const flags = s.interval ? " flags interval;" : "";
    // nft rejects an empty `elements = { }`.
    const body = s.elements.length > 0 ? ` elements = { ${s.elements.join(", ")} }` : "";
    return `set ${s.name} { type ${s.type};${flags}${body} }`;
  });
}

/** Flush-and-refill commands for every set, for the one transaction of an update. */
export function renderDatagramSetUpdate(spec: InterceptSpec): string[] {
  const lines: string[] = [];
  for (const s of datagramSets(spec)) {
    lines.push(`flush set inet ${spec.table} ${s.name}`);
    if (s.elements.length > 0) lines.push(`add element inet ${spec.table} ${s.name} { ${s.elements.join(", ")} }`);
  }
  return lines;
}

/** The regular chains, each as its lines (table body indentation added by the caller). */
export function renderDatagramChains(): string[] {
  const lines = [
    `chain ${NFT_DATAGRAM_CHAIN} {`,
    `  ct direction reply accept`,
    `  ct state related accept`,
    `  icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept`,
    `  ip daddr @ingress4 jump in4`,
    `  ip6 daddr @ingress6 jump in6`,
    `  ip saddr @egress4 jump eg4`,
    `  ip6 saddr @egress6 jump eg6`,
    `}`,
  ];
  for (const side of SIDES) {
    for (const family of FAMILIES) {
      const ip = family === 4 ? "ip" : "ip6";
      const [local, peer] = side === "in" ? ["daddr", "saddr"] : ["saddr", "daddr"];
      const key = `${ip} ${local} . meta l4proto . th dport . ${ip} ${peer}`;
      const chain = `${side}${family}`;
      lines.push(
        `chain ${chain} {`,
        `  meta l4proto != { udp, sctp } drop`,
        `  ${ip} ${peer} @${endpointSetName(family)} goto ${chain}_ep`,
        `  goto ${chain}_net`,
        `}`,
      );
      for (const cls of CLASSES) {
        lines.push(
          `chain ${chain}_${cls} {`,
          `  ${key} @${ruleSetName(side, family, cls, "deny")} drop`,
          // return: back to the datagrams chain, which checks the other side next.
          `  ${key} @${ruleSetName(side, family, cls, "allow")} return`,
          `  drop`,
          `}`,
        );
      }
    }
  }
  return lines;
}
