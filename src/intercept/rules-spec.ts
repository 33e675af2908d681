// What the interception rules must do, as data. Every renderer and installer takes this one
// shape; validateSpec is the single gate that turns bad values into an L7P_ERR_RULES error
// before anything is rendered, so no half-valid script ever reaches the kernel.

import net from "node:net";
import { L7ProxyError } from "../errors/codes.js";
import type { NonTcpPolicy } from "../policy/decision.js";
import { parseCidr } from "../policy/net/ip.js";

export type RulesBackend = "nft" | "iptables";

export interface InterceptSpec {
  /** Port of the transparent listener that TPROXY hands connections to. */
  proxyPort: number;
  /** Firewall mark given to intercepted packets; `ip rule fwmark` routes it to `routeTable`. */
  mark: number;
  /** Routing table that holds only `local default dev lo`, so marked packets are delivered locally. */
  routeTable: number;
  /**
   * Name of l7proxy's own rules: the nftables table (family inet), or the prefix of the
   * iptables chains (`<TABLE>-PRE`, `<TABLE>-FWD`, upper-cased).
   */
  table: string;
  /** Endpoint IPs whose ingress is enforced: TCP connections to them go to the proxy. */
  ingressIps: string[];
  /** Endpoint IPs whose egress is enforced: TCP connections from them go to the proxy. */
  egressIps: string[];
  backend: RulesBackend;
  /**
   * Mark the proxy gives its own upstream sockets (SO_MARK). Packets carrying it are never
   * intercepted, even if they re-enter prerouting (through lo). Must differ from `mark`:
   * a socket carrying `mark` itself would have its packets routed to the local table.
   */
  excludeMark?: number;
  /** `ip rule` priority; fixed so installs can find (and not duplicate) their own rule. */
  rulePriority?: number;
  /**
   * UDP/SCTP policy of the enforced addresses (PolicySnapshot.nonTcpPolicy()). Every non-TCP
   * packet to an ingress-enforced or from an egress-enforced address is dropped unless it is
   * a reply, a related ICMP error, IPv6 neighbour discovery, or allowed here. Absent: nothing
   * is allowed (fail closed).
   */
  nonTcp?: NonTcpPolicy;
  /** UDP port of the DNS proxy; absent: DNS is decided like any UDP (no redirect). */
  dnsProxyPort?: number;
  /** (endpoint address, port) pairs whose UDP DNS goes to the DNS proxy (PolicySnapshot.dnsRedirects()). */
  dnsRedirects?: { ip: string; port: number }[];
}

export const DEFAULT_RULE_PRIORITY = 9157;

const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,23}$/;

export interface EnforcedAddresses {
  ingress4: string[];
  ingress6: string[];
  egress4: string[];
  egress6: string[];
}

/** Throws L7P_ERR_RULES naming the first bad field. */
export function validateSpec(spec: InterceptSpec): void {
  const problems: string[] = [];
  if (!Number.isInteger(spec.proxyPort) || spec.proxyPort < 1 || spec.proxyPort > 65535) {
    problems.push(`proxyPort ${spec.proxyPort} is not a port (1-65535)`);
  }
  if (!isMark(spec.mark) || spec.mark === 0) problems.push(`mark ${spec.mark} must be a non-zero 32-bit integer`);
  if (spec.excludeMark !== undefined) {
    if (!isMark(spec.excludeMark) || spec.excludeMark === 0) {
      problems.push(`excludeMark ${spec.excludeMark} must be a non-zero 32-bit integer`);
    } else if (spec.excludeMark === spec.mark) {
      problems.push("excludeMark must differ from mark");
    }
  }
  // 0 is unspec; 253-255 are the kernel's default, main and local tables.
  if (!Number.isInteger(spec.routeTable) || spec.routeTable < 1 || spec.routeTable > 0xffffffff || spec.routeTable >= 253 && spec.routeTable <= 255) {
    problems.push(`routeTable ${spec.routeTable} must be 1-252 or 256-4294967295 (not default/main/local)`);
  }
  const priority = spec.rulePriority ?? DEFAULT_RULE_PRIORITY;
  if (!Number.isInteger(priority) || priority < 1 || priority > 32765) {
    problems.push(`rulePriority ${priority} must be 1-32765 (before the main table's rule)`);
  }
  // The name lands in an nft script and in iptables chain names (max 28 chars with suffix).
  if (!TABLE_NAME.test(spec.table)) {
    problems.push(`table "${spec.table}" must be a letter then up to 23 letters, digits or underscores`);
  }
  if (spec.backend !== "nft" && spec.backend !== "iptables") problems.push(`backend "${String(spec.backend)}" must be nft or iptables`);
  for (const [field, ips] of [["ingressIps", spec.ingressIps], ["egressIps", spec.egressIps]] as const) {
    if (!Array.isArray(ips)) {
      problems.push(`${field} must be an array`);
      continue;
    }
    for (const ip of ips) {
      // Zone ids (fe80::1%eth0) name an interface, which a set of addresses cannot hold.
      if (typeof ip !== "string" || net.isIP(ip) === 0 || ip.includes("%")) {
        problems.push(`${field} has "${String(ip)}", not an IP address`);
      }
    }
  }
  if (spec.nonTcp !== undefined) validateNonTcp(spec.nonTcp, problems);
  if (spec.dnsProxyPort !== undefined && (!Number.isInteger(spec.dnsProxyPort) || spec.dnsProxyPort < 1 || spec.dnsProxyPort > 65535)) {
    problems.push(`dnsProxyPort ${spec.dnsProxyPort} is not a port (1-65535)`);
  }
  for (const r of spec.dnsRedirects ?? []) {
    if (typeof r.ip !== "string" || net.isIP(r.ip) === 0 || r.ip.includes("%")) problems.push(`dnsRedirects has "${String(r.ip)}", not an IP address`);
    if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) problems.push(`dnsRedirects has port ${r.port}, not 1-65535`);
  }
  if (problems.length > 0) {
    throw new L7ProxyError("L7P_ERR_RULES", `invalid interception spec: ${problems.join("; ")}`);
  }
}

/** Splits and de-duplicates the enforced IPs by family, in a stable (sorted) order. */
export function enforcedAddresses(spec: InterceptSpec): EnforcedAddresses {
  const split = (ips: string[], family: 4 | 6): string[] =>
    [...new Set(ips.filter((ip) => net.isIP(ip) === family).map((ip) => canonicalIp(ip)))].sort();
  return {
    ingress4: split(spec.ingressIps, 4),
    ingress6: split(spec.ingressIps, 6),
    egress4: split(spec.egressIps, 4),
    egress6: split(spec.egressIps, 6),
  };
}

// One spelling per address, so "::1" and "0:0::1" do not become two set elements.
function canonicalIp(ip: string): string {
  if (net.isIPv4(ip)) return ip;
  const url = new URL(`http://[${ip}]/`);
  return url.hostname.slice(1, -1);
}

function validateNonTcp(policy: NonTcpPolicy, problems: string[]): void {
  const isAddress = (ip: unknown): ip is string => typeof ip === "string" && net.isIP(ip) !== 0 && !ip.includes("%");
  if (!Array.isArray(policy.endpointIps) || !Array.isArray(policy.allow) || !Array.isArray(policy.deny)) {
    problems.push("nonTcp must have endpointIps, allow and deny arrays");
    return;
  }
  for (const ip of policy.endpointIps) if (!isAddress(ip)) problems.push(`nonTcp.endpointIps has "${String(ip)}", not an IP address`);
  for (const list of ["allow", "deny"] as const) {
    policy[list].forEach((r, i) => {
      const where = `nonTcp.${list}[${i}]`;
      if (!isAddress(r.ip)) return void problems.push(`${where}.ip "${String(r.ip)}" is not an IP address`);
      if (r.direction !== "ingress" && r.direction !== "egress") problems.push(`${where}.direction must be ingress or egress`);
      if (r.protocol !== "UDP" && r.protocol !== "SCTP") problems.push(`${where}.protocol must be UDP or SCTP`);
      const portOk = (p: number) => Number.isInteger(p) && p >= 0 && p <= 65535;
      if (!portOk(r.portLo) || !portOk(r.portHi) || r.portLo > r.portHi) problems.push(`${where}: ports ${r.portLo}-${r.portHi} are not a range within 0-65535`);
      const family = net.isIP(r.ip);
      for (const peer of [...(r.endpointPeers ?? []), ...(r.otherPeers ?? [])]) {
        const cidr = typeof peer === "string" && peer.includes("/") ? parseCidr(peer) : undefined;
        // A peer of the other family could never match, and nft would refuse it in this set.
        if (cidr === undefined || cidr.family !== family) problems.push(`${where} has peer "${String(peer)}", not an IPv${family} CIDR`);
      }
    });
  }
}

function isMark(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

export function hex(value: number): string {
  return `0x${value.toString(16)}`;
}
