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
// TPROXY in iptables drops the packet itself when no proxy listens, so connections to
// enforced endpoints time out (rather than being reset) while the proxy is down.
// Why the proxy's own upstream traffic is not intercepted: see nft-rules.ts; the rules here
// mirror that chain one for one.
//
// Non-TCP traffic: the nft backend enforces the UDP/SCTP allowances (spec.nonTcp) in the
// kernel with interval sets; iptables without ipset could only test them one rule at a time
// for every datagram. So this backend does not allow any: the filter chain <TABLE>-DGM
// (jumped to from FORWARD and INPUT for everything but TCP) drops every non-TCP packet to an
// ingress-enforced or from an egress-enforced address, except replies, related ICMP errors
// and IPv6 neighbour discovery. Fail closed: UDP/SCTP that policy allows is dropped too
// (installRules warns when the policy allows some). Use the nft backend where it must pass.

import net from "node:net";
import type { IpFamily } from "./ip-routing.js";
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
}

export function iptablesChains(spec: InterceptSpec): IptablesChains {
  const base = spec.table.toUpperCase();
  return { prerouting: `${base}-PRE`, divert: `${base}-DIV`, forward: `${base}-FWD`, datagrams: `${base}-DGM` };
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
    `-A ${chains.divert} -j MARK --set-xmark ${mark}`,
    `-A ${chains.divert} -j ACCEPT`,
    `-A ${chains.prerouting} -p tcp -m socket --transparent -j ${chains.divert}`,
    `-A ${chains.prerouting} -m conntrack --ctdir REPLY -j RETURN`,
    ...(spec.excludeMark !== undefined
      ? [`-A ${chains.prerouting} -m mark --mark ${hex(spec.excludeMark)}/${hex(spec.excludeMark)} -j RETURN`]
      : []),
    ...ingress.map((ip) => [`-A ${chains.prerouting} -p tcp -d ${hostPrefix(ip)}`, ...tproxy].join(" ")),
    ...egress.map((ip) => [`-A ${chains.prerouting} -p tcp -s ${hostPrefix(ip)}`, ...tproxy].join(" ")),
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
    ...ingress.map((ip) => `-A ${dgm} -d ${hostPrefix(ip)} -j DROP`),
    ...egress.map((ip) => `-A ${dgm} -s ${hostPrefix(ip)} -j DROP`),
    "COMMIT",
  ];
  return `${[...mangle, ...filter].join("\n")}\n`;
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
