// The iptables fallback, for nodes without nftables: the same redirects as nft-rules.ts, as
// `iptables-restore --noflush` input (one per family), plus jumps from the built-in chains.
//
// Restoring with --noflush replaces only l7proxy's own chains (a `:CHAIN` line flushes that
// chain) and does it atomically per table, so updates never leave a window without rules.
//
// What this backend cannot do as well as nftables: TPROXY is only allowed in the mangle
// table, whose PREROUTING chain runs at -150, before DNAT (-100). A client that dials a
// Service VIP is therefore not redirected there, because the VIP is not an enforced address
// yet. So that this is never a bypass, the filter FORWARD chain rejects (TCP reset) any
// original-direction connection to or from an enforced address that is about to be
// forwarded, which after DNAT catches exactly those: with this backend, connections through
// a Service VIP to an enforced endpoint fail closed instead of being enforced. Use the nft
// backend (the default) where they must work.
//
// A client whose egress is enforced is redirected by its source address, VIP or not, and the
// proxy then sees the endpoint behind the VIP (DNAT still rewrites the redirected packets).
// But the `-m socket` lookup that steers a connection's later packets to the proxy's socket
// runs before DNAT too, so it looks for the VIP and misses the socket, which is bound to the
// endpoint's address: TPROXY would hand the client's handshake ACK to the listener, which
// resets it. So the packets of an established connection from an egress-enforced address
// (original direction) are only marked for the local route, as a socket match would do, and
// the kernel finds the socket itself after DNAT.
//
// TPROXY in iptables drops the packet itself when no proxy listens, so connections to
// enforced endpoints time out (rather than being reset) while the proxy is down.
// Why the proxy's own upstream traffic is not intercepted: see nft-rules.ts; the rules here
// mirror that chain one for one.
//
// Non-TCP traffic: the nft backend enforces the UDP/SCTP allowances (spec.nonTcp) in the
// kernel with interval sets; iptables without ipset could only test them one rule at a time
// for every datagram. So this backend does not allow any: the filter chain <TABLE>-DGM
// (jumped to from FORWARD and INPUT for everything but TCP) drops every non-TCP packet to an
// ingress-enforced or from an egress-enforced address, except replies, related ICMP errors,
// IPv6 neighbour discovery and the DNS the proxy takes (below). Fail closed: UDP/SCTP that
// policy allows is dropped too (installRules warns when the policy allows some). Use the nft
// backend where it must pass.
//
// DNS over UDP (spec.dnsRedirects, see nft-dns-rules.ts for the nft version): the mangle
// chain <TABLE>-DNS (jumped to from PREROUTING for UDP) TPROXYs each (endpoint address, DNS
// port) to the DNS proxy's port, and delivers the resolvers' answers to the proxy's own
// upstream sockets (transparent, bound to the endpoint's address, carrying excludeMark:
// `-m socket --transparent --restore-skmark` copies the socket's mark onto the packet, so
// `-m mark` can tell them from any other transparent socket) instead of forwarding them to
// the endpoint. The query then reaches INPUT marked, where the DGM chain lets it through
// (marked UDP from that endpoint can only be one we TPROXY'd); the answers are replies.
// `--restore-skmark` also copies the mark of a transparent socket that is not ours; the
// reply rule only looks at answers to an endpoint's address, where only the proxy's
// upstream sockets are transparent. Fail closed: with no proxy listening TPROXY drops the
// query itself, so it never reaches the resolver. DNS over TCP needs nothing of its own.

import net from "node:net";
import type { IpFamily } from "./ip-routing.js";
import { canonicalIp } from "../policy/net/ip.js";
import { type InterceptSpec, enforcedAddresses, hex, validateSpec } from "./rules-spec.js";

export interface IptablesChains {
  /** mangle: redirects (jumped to from PREROUTING). */
  prerouting: string;
  /** mangle: marks and accepts packets of connections a transparent socket owns. */
  divert: string;
  /** filter: rejects connections that escaped the redirect (jumped to from FORWARD). */
  forward: string;
  /** filter: drops non-TCP packets to and from enforced addresses (from FORWARD and INPUT). */
  datagrams: string;
  /** mangle: UDP DNS to the DNS proxy, and its upstream answers to its sockets (jumped to from PREROUTING). */
  dns: string;
}

export function iptablesChains(spec: InterceptSpec): IptablesChains {
  const base = spec.table.toUpperCase();
  return { prerouting: `${base}-PRE`, divert: `${base}-DIV`, forward: `${base}-FWD`, datagrams: `${base}-DGM`, dns: `${base}-DNS` };
}

/** A jump from a built-in chain into one of ours, as iptables arguments after `-t TABLE`. */
export interface IptablesHook {
  table: "mangle" | "filter";
  chain: "PREROUTING" | "FORWARD" | "INPUT";
  rule: string[];
}

export function iptablesHooks(spec: InterceptSpec): IptablesHook[] {
  const chains = iptablesChains(spec);
  return [
    { table: "mangle", chain: "PREROUTING", rule: ["-p", "tcp", "-j", chains.prerouting] },
    { table: "mangle", chain: "PREROUTING", rule: ["-p", "udp", "-j", chains.dns] },
    { table: "filter", chain: "FORWARD", rule: ["-p", "tcp", "-j", chains.forward] },
    // Pod to pod (FORWARD) and pod to node (INPUT), after DNAT, as the nft chain sees them.
    { table: "filter", chain: "FORWARD", rule: ["!", "-p", "tcp", "-j", chains.datagrams] },
    { table: "filter", chain: "INPUT", rule: ["!", "-p", "tcp", "-j", chains.datagrams] },
  ];
}

export function iptablesCommand(family: IpFamily): string {
  return family === 4 ? "iptables" : "ip6tables";
}

export function iptablesRestoreCommand(family: IpFamily): string {
  return family === 4 ? "iptables-restore" : "ip6tables-restore";
}

/** Input for `iptables-restore --noflush` (or ip6tables-restore) defining l7proxy's chains. */
export function renderIptablesRestore(spec: InterceptSpec, family: IpFamily): string {
  validateSpec(spec);
  const chains = iptablesChains(spec);
  const addresses = enforcedAddresses(spec);
  const ingress = family === 4 ? addresses.ingress4 : addresses.ingress6;
  const egress = family === 4 ? addresses.egress4 : addresses.egress6;
  const anyAddress = family === 4 ? "0.0.0.0" : "::";
  const mark = `${hex(spec.mark)}/0xffffffff`;
  const tproxy = ["-j", "TPROXY", "--on-port", String(spec.proxyPort), "--on-ip", anyAddress, "--tproxy-mark", mark];
  const reject = ["-j", "REJECT", "--reject-with", "tcp-reset"];
  const mangle = [
    "*mangle",
    `:${chains.prerouting} - [0:0]`,
    `:${chains.divert} - [0:0]`,
    `:${chains.dns} - [0:0]`,
    `-A ${chains.divert} -j MARK --set-xmark ${mark}`,
    `-A ${chains.divert} -j ACCEPT`,
    `-A ${chains.prerouting} -p tcp -m socket --transparent -j ${chains.divert}`,
    `-A ${chains.prerouting} -m conntrack --ctdir REPLY -j RETURN`,
    ...(spec.excludeMark !== undefined
      ? [`-A ${chains.prerouting} -m mark --mark ${hex(spec.excludeMark)}/${hex(spec.excludeMark)} -j RETURN`]
      : []),
    ...egress.map((ip) => `-A ${chains.prerouting} -p tcp -s ${hostPrefix(ip)} -m conntrack --ctstate ESTABLISHED --ctdir ORIGINAL -j ${chains.divert}`),
    ...ingress.map((ip) => [`-A ${chains.prerouting} -p tcp -d ${hostPrefix(ip)}`, ...tproxy].join(" ")),
    ...egress.map((ip) => [`-A ${chains.prerouting} -p tcp -s ${hostPrefix(ip)}`, ...tproxy].join(" ")),
    ...renderDnsMangle(spec, family),
    "COMMIT",
  ];
  const original = "-m conntrack --ctdir ORIGINAL";
  const dgm = chains.datagrams;
  const discovery = ["neighbour-solicitation", "neighbour-advertisement", "router-solicitation", "router-advertisement"];
  const filter = [
    "*filter",
    `:${chains.forward} - [0:0]`,
    `:${dgm} - [0:0]`,
    ...ingress.map((ip) => [`-A ${chains.forward} -p tcp -d ${hostPrefix(ip)} ${original}`, ...reject].join(" ")),
    ...egress.map((ip) => [`-A ${chains.forward} -p tcp -s ${hostPrefix(ip)} ${original}`, ...reject].join(" ")),
    `-A ${dgm} -m conntrack --ctdir REPLY -j RETURN`,
    `-A ${dgm} -m conntrack --ctstate RELATED -j RETURN`,
    ...(family === 6 ? discovery.map((type) => `-A ${dgm} -p ipv6-icmp --icmpv6-type ${type} -j RETURN`) : []),
    // The queries the DNS chain TPROXY'd, on their way to the proxy's socket (INPUT).
    ...dnsSources(spec, family).map((ip) => `-A ${dgm} -s ${hostPrefix(ip)} -p udp -m mark --mark ${mark} -j RETURN`),
    ...ingress.map((ip) => `-A ${dgm} -d ${hostPrefix(ip)} -j DROP`),
    ...egress.map((ip) => `-A ${dgm} -s ${hostPrefix(ip)} -j DROP`),
    "COMMIT",
  ];
  return `${[...mangle, ...filter].join("\n")}\n`;
}

/** (endpoint address, port) pairs of one family whose UDP DNS goes to the proxy, sorted. */
function dnsRedirects(spec: InterceptSpec, family: IpFamily): { ip: string; port: number }[] {
  if (spec.dnsProxyPort === undefined) return [];
  const seen = new Map<string, { ip: string; port: number }>();
  for (const r of spec.dnsRedirects ?? []) {
    if (net.isIP(r.ip) !== family) continue;
    const ip = canonicalIp(r.ip) ?? r.ip;
    seen.set(`${ip} ${r.port}`, { ip, port: r.port });
  }
  return [...seen.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

function dnsSources(spec: InterceptSpec, family: IpFamily): string[] {
  return [...new Set(dnsRedirects(spec, family).map((r) => r.ip))];
}

/** The <TABLE>-DNS chain's rules (mangle, for UDP only: see the header). */
function renderDnsMangle(spec: InterceptSpec, family: IpFamily): string[] {
  const redirects = dnsRedirects(spec, family);
  if (spec.dnsProxyPort === undefined || redirects.length === 0) return [];
  const chains = iptablesChains(spec);
  const mark = `${hex(spec.mark)}/0xffffffff`;
  const anyAddress = family === 4 ? "0.0.0.0" : "::";
  // Without excludeMark: any transparent socket bound to that address (never a wildcard one,
  // the DNS listener: the socket match skips those unless told --nowildcard).
  const ours =
    spec.excludeMark !== undefined
      ? `-m socket --transparent --restore-skmark -m mark --mark ${hex(spec.excludeMark)}/${hex(spec.excludeMark)}`
      : "-m socket --transparent";
  return [
    ...dnsSources(spec, family).map((ip) => `-A ${chains.dns} -d ${hostPrefix(ip)} -m conntrack --ctdir REPLY ${ours} -j ${chains.divert}`),
    `-A ${chains.dns} -m conntrack --ctdir REPLY -j RETURN`,
    ...(spec.excludeMark !== undefined ? [`-A ${chains.dns} -m mark --mark ${hex(spec.excludeMark)}/${hex(spec.excludeMark)} -j RETURN`] : []),
    ...redirects.map(
      (r) => `-A ${chains.dns} -s ${hostPrefix(r.ip)} -p udp --dport ${r.port} -j TPROXY --on-port ${spec.dnsProxyPort} --on-ip ${anyAddress} --tproxy-mark ${mark}`,
    ),
  ];
}

/** The whole installation as a readable script (for `l7proxy rules print`). */
export function renderIptablesScript(spec: InterceptSpec): string {
  const parts: string[] = [];
  for (const family of [4, 6] as const) {
    parts.push(`# ${iptablesRestoreCommand(family)} --noflush <<'EOF'`, renderIptablesRestore(spec, family).trimEnd(), "# EOF");
    for (const hook of iptablesHooks(spec)) {
      parts.push(`# unless present: ${iptablesCommand(family)} -t ${hook.table} -I ${hook.chain} 1 ${hook.rule.join(" ")}`);
    }
  }
  return `${parts.join("\n")}\n`;
}

function hostPrefix(ip: string): string {
  return net.isIPv6(ip) ? `${ip}/128` : `${ip}/32`;
}
