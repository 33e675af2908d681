// The UDP/SCTP half of L3/L4 policy, laid out for the kernel: TCP goes through the proxy,
// which asks decideFlow, but datagrams never reach it, so the kernel must drop what
// decideFlow would deny. This turns each enforced side table into plain rules (address,
// protocol, port range, peers as CIDRs) that give the same verdicts:
//
// - Ports: the table's own port boundaries cut 0-65535 into intervals on which
//   SideTable.lookup returns one bucket, so each interval has one answer; neighbours with
//   equal answers are merged again.
// - Peers: decideFlow matches an endpoint's address only by the endpoint selectors (never by
//   CIDR or `world`), and any other address only by CIDR/world/all. So each rule carries two
//   peer lists, and the kernel picks one by whether the peer is an endpoint address.
// - Deny wins: deny rules are kept apart and checked first, as decideSide does.
// - L7: datagrams cannot be parsed on the data path, so only what every request would be
//   allowed on counts: an L3/L4-only entry, or DNS rules that allow every name. Anything
//   narrower fails closed (the port stays closed for that peer).
// - toFQDNs peers select the addresses the DNS proxy learnt for their names (fqdnIps), as
//   host prefixes among the non-endpoint peers; without them they select nothing.

import type { DatagramProtocol, Direction, NonTcpPolicy, NonTcpRule } from "../decision.js";
import type { Endpoint } from "../endpoints/types.js";
import type { CompiledPeer } from "../compile/compiled-entry.js";
import type { PeerGroup, SideTable } from "../compile/side-table.js";
import { canonicalIp, hostRange } from "../net/ip.js";
import { type AddressRange, cidrToRange, fullRange, mergeRanges, rangeToCidrs, subtractRanges } from "../net/ip-ranges.js";

const PROTOCOLS: readonly DatagramProtocol[] = ["UDP", "SCTP"];

/** Peers of one port interval: endpoints by index, other addresses by range. */
interface PeerSet {
  allEndpoints: boolean;
  endpoints: ReadonlySet<number>;
  others: readonly AddressRange[];
  key: string;
}

interface TableRule {
  protocol: DatagramProtocol;
  lo: number;
  hi: number;
  peers: PeerSet;
}

/** One table's rules, computed once and shared by every address of every endpoint using it. */
interface TableRules {
  allow: TableRule[];
  deny: TableRule[];
}

export interface NonTcpInputs {
  endpoints: readonly Endpoint[];
  /** Canonical address -> index of the endpoint that owns it. */
  ipIndex: ReadonlyMap<string, number>;
  ingress: readonly (SideTable | null)[];
  egress: readonly (SideTable | null)[];
  /** Addresses the interception rules treat as enforced, per direction. */
  enforced: Readonly<Record<Direction, readonly string[]>>;
  /** Learnt addresses (not yet expired) of the names a toFQDNs selector matches. */
  fqdnIps?: FqdnIpLookup;
}

export type FqdnIpLookup = (matches: (name: string) => boolean) => readonly string[];

const EVERYONE: PeerSet = peerSet([{ all: true, endpoints: new Uint8Array(0), world: true, cidrs: [], fqdn: "none" }]);
const NOBODY: PeerSet = peerSet([]);

export function buildNonTcpPolicy(inputs: NonTcpInputs): NonTcpPolicy {
  const owned = new Map<number, string[]>();
  let v4 = 0;
  for (const [ip, i] of inputs.ipIndex) {
    (owned.get(i) ?? owned.set(i, []).get(i)!).push(ip);
    if (!ip.includes(":")) v4++;
  }
  const counts = { 4: v4, 6: inputs.ipIndex.size - v4 };
  const render = new PeerRenderer(owned, counts);
  const allow: NonTcpRule[] = [];
  const deny: NonTcpRule[] = [];
  for (const direction of ["ingress", "egress"] as const) {
    const tables = inputs[direction];
    const cache = new Map<SideTable, TableRules>();
    const done = new Set<string>();
    for (const raw of inputs.enforced[direction]) {
      const ip = canonicalIp(raw);
      if (ip === undefined || done.has(ip)) continue;
      done.add(ip);
      const owner = inputs.ipIndex.get(ip);
      const table = owner === undefined ? null : tables[owner] ?? null;
      // An address listed by an enforced endpoint but owned by another (a duplicate in the
      // inventory) is decided as its owner's: not enforced, so everything is allowed.
      let rules: TableRules;
      if (table === null || !table.enforced) rules = { allow: PROTOCOLS.map((protocol) => ({ protocol, lo: 0, hi: 65535, peers: EVERYONE })), deny: [] };
      else {
        rules = cache.get(table) ?? tableRules(table, inputs.fqdnIps);
        cache.set(table, rules);
      }
      const family = ip.includes(":") ? 6 : 4;
      for (const [from, to] of [[rules.allow, allow], [rules.deny, deny]] as const) {
        for (const r of from) {
          const peers = render.peers(r.peers, family);
          if (peers.endpointPeers.length + peers.otherPeers.length === 0) continue;
          to.push(Object.freeze({ ip, direction, protocol: r.protocol, portLo: r.lo, portHi: r.hi, ...peers }));
        }
      }
    }
  }
  return { endpointIps: [...inputs.ipIndex.keys()], allow, deny };
}

function tableRules(table: SideTable, fqdnIps: FqdnIpLookup | undefined): TableRules {
  const allow: TableRule[] = [];
  const deny: TableRule[] = [];
  for (const protocol of PROTOCOLS) {
    const cuts = new Set([0]);
    for (const e of table.entries) {
      for (const r of e.ports) if (r.protocol === protocol) cuts.add(r.lo).add(r.hi + 1);
    }
    const starts = [...cuts].filter((c) => c <= 65535).sort((a, b) => a - b);
    starts.forEach((lo, k) => {
      const hi = (starts[k + 1] ?? 65536) - 1;
      const groups = table.lookup(protocol, lo).groups;
      extend(allow, { protocol, lo, hi, peers: peerSet(groups.filter(allowsEveryRequest).map((g) => g.peer), fqdnIps) });
      extend(deny, { protocol, lo, hi, peers: peerSet(groups.filter((g) => g.deny !== null).map((g) => g.peer), fqdnIps) });
    });
  }
  const some = (r: TableRule) => r.peers.key !== NOBODY.key;
  return { allow: allow.filter(some), deny: deny.filter(some) };
}

/** Appends an interval, merged into the previous one when it continues it with the same peers. */
function extend(list: TableRule[], next: TableRule): void {
  const prev = list[list.length - 1];
  if (prev !== undefined && prev.protocol === next.protocol && prev.hi + 1 === next.lo && prev.peers.key === next.peers.key) prev.hi = next.hi;
  else list.push(next);
}

/**
 * Whether a peer group lets every datagram through: decideDns allows every name for it when
 * it has an L3/L4-only entry or DNS rules matching every name. Other L7 kinds never reach
 * UDP or SCTP ports (the validator rejects them), and would fail closed here.
 */
function allowsEveryRequest(g: PeerGroup): boolean {
  if (g.l4Only !== null) return true;
  return g.allows.some((e) => e.l7?.kind === "dns" && e.l7.matcher === "all");
}

function peerSet(peers: readonly CompiledPeer[], fqdnIps?: FqdnIpLookup): PeerSet {
  let allEndpoints = false;
  const endpoints = new Set<number>();
  const ranges: AddressRange[] = [];
  for (const p of peers) {
    if (p.all) allEndpoints = true;
    else p.endpoints.forEach((bit, i) => bit === 1 && endpoints.add(i));
    if (p.all || p.world) ranges.push(fullRange(4), fullRange(6));
    else {
      for (const c of p.cidrs) ranges.push(...subtractRanges([cidrToRange(c.range)], c.except.map(cidrToRange)));
      const matcher = p.fqdn;
      if (matcher !== "none" && fqdnIps !== undefined) {
        for (const ip of fqdnIps((name) => matcher.test(name))) {
          const host = hostRange(ip);
          if (host !== undefined) ranges.push(cidrToRange(host));
        }
      }
    }
  }
  if (allEndpoints) endpoints.clear();
  const others = mergeRanges(ranges);
  const key = `${allEndpoints}|${[...endpoints].sort((a, b) => a - b).join(",")}|${others.map((r) => `${r.family}:${r.start}-${r.end}`).join(",")}`;
  return { allEndpoints, endpoints, others, key };
}

/** Peer sets as CIDR lists of one family, computed once per set and family. */
class PeerRenderer {
  private readonly cache = new Map<string, { endpointPeers: string[]; otherPeers: string[] }>();

  constructor(
    private readonly owned: ReadonlyMap<number, readonly string[]>,
    private readonly counts: Record<4 | 6, number>,
  ) {}

  peers(set: PeerSet, family: 4 | 6): { endpointPeers: string[]; otherPeers: string[] } {
    const key = `${family}/${set.key}`;
    let hit = this.cache.get(key);
    if (hit === undefined) {
      hit = { endpointPeers: this.endpointPeers(set, family), otherPeers: set.others.filter((r) => r.family === family).flatMap(rangeToCidrs) };
      this.cache.set(key, hit);
    }
    return { endpointPeers: [...hit.endpointPeers], otherPeers: [...hit.otherPeers] };
  }

  private endpointPeers(set: PeerSet, family: 4 | 6): string[] {
    const any = family === 4 ? "0.0.0.0/0" : "::/0";
    if (set.allEndpoints) return [any];
    const ips: string[] = [];
    for (const i of set.endpoints) {
      for (const ip of this.owned.get(i) ?? []) if (ip.includes(":") === (family === 6)) ips.push(ip);
    }
    // Every endpoint of the family: one prefix instead of one element per endpoint.
    if (ips.length > 0 && ips.length === this.counts[family]) return [any];
    return ips.sort().map((ip) => `${ip}/${family === 4 ? 32 : 128}`);
  }
}
