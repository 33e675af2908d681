// Which DNS traffic the DNS proxy must see: Cilium redirects an endpoint's DNS to its proxy
// when the endpoint's egress policy has DNS rules (the ports they name), and toFQDNs only
// works with answers the proxy saw, so an endpoint with toFQDNs peers has its port 53
// redirected too. TCP needs nothing here: an egress-enforced endpoint's TCP already reaches
// the proxy, which finds the DNS rules by itself. Only single ports count: a DNS rule on a
// port range (Cilium refuses them) never turns into redirecting every datagram.

import type { DnsRedirect } from "../decision.js";
import type { Endpoint } from "../endpoints/types.js";
import type { SideTable } from "../compile/side-table.js";
import { canonicalIp } from "../net/ip.js";

export const DEFAULT_DNS_PORT = 53;

export function buildDnsRedirects(endpoints: readonly Endpoint[], egress: readonly (SideTable | null)[]): DnsRedirect[] {
  const cache = new Map<SideTable, number[]>();
  const out: DnsRedirect[] = [];
  const seen = new Set<string>();
  endpoints.forEach((e, i) => {
    const table = egress[i] ?? null;
    if (table === null || !table.enforced) return;
    let ports = cache.get(table);
    if (ports === undefined) {
      ports = tablePorts(table);
      cache.set(table, ports);
    }
    for (const raw of e.ips) {
      const ip = canonicalIp(raw) ?? raw;
      for (const port of ports) {
        const key = `${ip}|${port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ ip, port });
      }
    }
  });
  return out;
}

function tablePorts(table: SideTable): number[] {
  const ports = new Set<number>();
  let fqdnPeers = false;
  for (const e of table.entries) {
    if (e.deny) continue;
    if (e.peer.fqdn !== "none") fqdnPeers = true;
    if (e.l7?.kind !== "dns") continue;
    for (const r of e.ports) if (r.protocol === "UDP" && r.lo === r.hi && r.lo > 0) ports.add(r.lo);
  }
  if (fqdnPeers) ports.add(DEFAULT_DNS_PORT);
  return [...ports].sort((a, b) => a - b);
}
