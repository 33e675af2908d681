// DNS over UDP to the DNS proxy: datagrams from an endpoint to a port its DNS policy names
// (PolicySnapshot.dnsRedirects()) are TPROXY'd to the proxy's DNS port, before the
// datagrams chain would decide them in the kernel. The sets hold `endpoint address . port`.
//
// Fail closed: with no proxy listening the tproxy statement does not match, and the
// datagrams chain decides the query as it does any UDP (a port with DNS rules is open there
// only when they allow every name), so a stopped proxy never lets a denied name through.
// DNS over TCP needs nothing here: TCP from egress-enforced endpoints reaches the proxy.
//
// The resolvers' answers to the proxy's own queries: those leave from the pod's address (a
// transparent socket bound to it, carrying the upstream mark, udp-forwarder.ts), so their
// answers come back addressed to the pod. A reply to a transparent socket that carries the
// upstream mark is delivered locally, to that socket, as TCP's are (`socket transparent` in
// nft-rules.ts), instead of being forwarded to the pod. The mark keeps it to the proxy's
// upstream sockets: the DNS listener and the reply sockets (bound to resolvers' addresses)
// carry none. (Without excludeMark: any transparent socket bound to a specific address.)

import net from "node:net";
import { canonicalIp } from "../policy/net/ip.js";
import { hex, type InterceptSpec } from "./rules-spec.js";

export function dnsSetName(family: 4 | 6): string {
  return `dns${family}`;
}

function elements(spec: InterceptSpec, family: 4 | 6): string[] {
  const out = new Set<string>();
  for (const r of spec.dnsRedirects ?? []) {
    if (net.isIP(r.ip) !== family) continue;
    out.add(`${canonicalIp(r.ip) ?? r.ip} . ${r.port}`);
  }
  return [...out].sort();
}

export function renderDnsSets(spec: InterceptSpec): string[] {
  return ([4, 6] as const).map((family) => {
    const type = `${family === 4 ? "ipv4_addr" : "ipv6_addr"} . inet_service`;
    const els = elements(spec, family);
    return `set ${dnsSetName(family)} { type ${type};${els.length > 0 ? ` elements = { ${els.join(", ")} }` : ""} }`;
  });
}

/** Prerouting lines, placed before non-TCP packets go to the datagrams chain. */
export function renderDnsPrerouting(spec: InterceptSpec): string[] {
  if (spec.dnsProxyPort === undefined) return [];
  const mark = hex(spec.mark);
  const ours = spec.excludeMark !== undefined ? `socket mark ${hex(spec.excludeMark)}` : "socket wildcard 0";
  return [
    `meta l4proto udp ct direction reply socket transparent 1 ${ours} meta mark set ${mark} accept`,
    `meta l4proto udp ct direction original ip saddr . udp dport @${dnsSetName(4)} tproxy ip to :${spec.dnsProxyPort} meta mark set ${mark} accept`,
    `meta l4proto udp ct direction original ip6 saddr . udp dport @${dnsSetName(6)} tproxy ip6 to :${spec.dnsProxyPort} meta mark set ${mark} accept`,
  ];
}

export function renderDnsSetUpdate(spec: InterceptSpec): string[] {
  const lines: string[] = [];
  for (const family of [4, 6] as const) {
    lines.push(`flush set inet ${spec.table} ${dnsSetName(family)}`);
    const els = elements(spec, family);
    if (els.length > 0) lines.push(`add element inet ${spec.table} ${dnsSetName(family)} { ${els.join(", ")} }`);
  }
  return lines;
}
