// Whether an address belongs to this network namespace (the node). Upstream connections to
// such an address cannot keep the client's address as source (upstream-connect.ts says why).
// Interface addresses change rarely (a node's IPs, a new Service IP on kube-ipvs0), so the
// list is read at most once a second, never on every connection.

import { networkInterfaces } from "node:os";
import { canonicalIp } from "../policy/net/ip.js";

const REFRESH_MS = 1000;

let cached: ReadonlySet<string> = new Set();
let readAt = -Infinity;

export function isLocalAddress(ip: string, now: number = performance.now()): boolean {
  if (ip.startsWith("127.") || ip === "::1") return true;
  if (now - readAt >= REFRESH_MS) {
    cached = readLocalAddresses();
    readAt = now;
  }
  // Destinations come from accepted sockets, which Node already spells canonically.
  return cached.has(ip);
}

function readLocalAddresses(): ReadonlySet<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local addresses come with a zone (fe80::1%eth0) that a destination does not carry.
      out.add(canonicalIp(a.address.split("%")[0] as string) ?? a.address);
    }
  }
  return out;
}
