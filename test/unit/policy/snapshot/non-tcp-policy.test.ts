// The kernel's non-TCP rules must give exactly decideFlow's verdicts for UDP and SCTP (where a
// flow carries L7 rules, only when every request would be allowed: datagrams are never
// parsed). A model of the nftables chains (the e2e tests check the real chains against real
// packets) evaluates nonTcpPolicy() over every combination of source, destination, protocol
// and port for several policies, and is compared with the engine.

import { describe, expect, it } from "vitest";
import type { DatagramProtocol, Direction, NonTcpPolicy, NonTcpRule, PolicySnapshot } from "../../../../src/policy/decision.js";
import { canonicalIp, cidrContains, parseCidr, parseIp } from "../../../../src/policy/net/ip.js";
import { compileYaml, flow } from "../../../support/policy-fixtures.js";

const endpoints = `
namespaces:
  - {name: default}
  - {name: shop, labels: {team: shop}}
  - {name: kube-system}
endpoints:
  - {name: a, labels: {app: a}, ips: [10.9.0.1, "fd00:9::1"]}
  - {name: b, labels: {app: b}, ips: [10.9.0.2, "fd00:9::2"]}
  - {name: server, labels: {app: server}, ips: [10.9.0.10, "fd00:9::10"]}
  - {name: db-0, namespace: shop, labels: {app: db}, ips: [10.9.1.2]}
  - {name: backend-1, namespace: shop, labels: {app: backend}, ips: [10.9.1.3]}
  - {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}, ips: [10.9.2.53]}
`;

const WORLD = [
  "192.0.2.1", "192.0.2.127", "192.0.2.128", "192.0.2.255", "192.0.3.0", "198.51.100.7",
  "10.0.0.1", "10.9.0.99", "169.254.169.254", "8.8.8.8",
  "2001:db8::1", "2001:db8:0:1::1", "2001:db8:1::1",
];
const PORTS = [1, 52, 53, 54, 80, 999, 1000, 1001, 1499, 1500, 1501, 1999, 2000, 2001, 5352, 5353, 5354, 65534, 65535];
const PROTOCOLS: DatagramProtocol[] = ["UDP", "SCTP"];

const POLICIES: Record<string, string> = {
  "UDP and SCTP ports, ranges, CIDRs with except, deny": `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: server-in, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "5353", protocol: UDP}]}]
  - fromEndpoints: [{matchLabels: {app: b}}]
    toPorts: [{ports: [{port: "1000", endPort: 2000, protocol: ANY}]}]
  - fromCIDRSet:
    - {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
    - {cidr: "2001:db8::/48", except: ["2001:db8:0:1::/64"]}
    toPorts: [{ports: [{port: "1000", endPort: 2000, protocol: UDP}]}]
  - fromCIDR: [10.0.0.0/8]
    toPorts: [{ports: [{port: "80", protocol: SCTP}]}]
  ingressDeny:
  - fromEndpoints: [{matchLabels: {app: b}}]
    toPorts: [{ports: [{port: "1500", protocol: UDP}]}]
  - fromCIDR: [192.0.2.64/26]
    toPorts: [{ports: [{port: "1500", protocol: ANY}]}]
`,
  "egress to world and entities, egress deny, both sides enforced": `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a-out, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
  - toEntities: [world]
    toPorts: [{ports: [{port: "53", protocol: UDP}]}]
  - toEntities: [cluster]
    toPorts: [{ports: [{port: "5353", protocol: UDP}, {port: "0", protocol: SCTP}]}]
  egressDeny:
  - toCIDR: [8.8.8.8/32]
  - toEndpoints: [{matchLabels: {app: b}}]
    toPorts: [{ports: [{port: "5353", protocol: ANY}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-in, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
  - fromEntities: [all]
    toPorts: [{ports: [{port: "1000", endPort: 1500, protocol: UDP}]}]
  - fromEndpoints: [{}]
`,
  "Kubernetes NetworkPolicies with ipBlock except": `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-restrict-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: backend}}
    - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.0/26]}
    ports:
    - {protocol: UDP, port: 5353}
    - {protocol: SCTP, port: 1000, endPort: 2000}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-external-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: backend}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8, 169.254.169.254/32]}
    ports: [{protocol: UDP, port: 53}]
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{protocol: UDP, port: 53}]
`,
  "DNS rules: every name allowed, some names, L4-only beside; toFQDNs; default allow": `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: dns, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}}]
    toPorts:
    - ports: [{port: "53", protocol: ANY}]
      rules: {dns: [{matchPattern: "*"}]}
  - toEndpoints: [{matchLabels: {app: server}}]
    toPorts:
    - ports: [{port: "53", protocol: UDP}]
      rules: {dns: [{matchPattern: "*.example.com"}]}
  - toEndpoints: [{matchLabels: {app: b}}]
    toPorts:
    - ports: [{port: "53", protocol: UDP}]
      rules: {dns: [{matchName: "only.example.com"}]}
    - ports: [{port: "53", protocol: UDP}]
  - toFQDNs: [{matchPattern: "*.example.com"}]
    toPorts: [{ports: [{port: "5353", protocol: UDP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: server-audit, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: server}}
  enableDefaultDeny: {ingress: false}
  ingress:
  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "5353", protocol: UDP}]}]
  ingressDeny:
  - fromEntities: [world]
    toPorts: [{ports: [{port: "53", protocol: ANY}]}]
`,
};

function inCidrs(cidrs: readonly string[], ip: string): boolean {
  const p = parseIp(ip)!;
  return cidrs.some((c) => cidrContains(parseCidr(c)!, p));
}

/** What the nftables chains do with a datagram (nft-rules.ts), as a pure function. */
function kernelAllows(policy: NonTcpPolicy, snapshot: PolicySnapshot, src: string, dst: string, protocol: DatagramProtocol, port: number): boolean {
  const enforced = snapshot.enforcedIps();
  const endpointIps = new Set(policy.endpointIps);
  const side = (direction: Direction, local: string, peer: string): boolean => {
    if (!enforced[direction].map((ip) => canonicalIp(ip)).includes(canonicalIp(local))) return true;
    const peers = (r: NonTcpRule) => (endpointIps.has(canonicalIp(peer)!) ? r.endpointPeers : r.otherPeers);
    const hit = (rules: NonTcpRule[]) =>
      rules.some((r) => r.ip === canonicalIp(local) && r.direction === direction && r.protocol === protocol && r.portLo <= port && port <= r.portHi && inCidrs(peers(r), peer));
    return !hit(policy.deny) && hit(policy.allow);
  };
  return side("egress", src, dst) && side("ingress", dst, src);
}

/** decideFlow's verdict, narrowed to what can be enforced without parsing a datagram. */
function engineAllows(snapshot: PolicySnapshot, src: string, dst: string, protocol: DatagramProtocol, port: number): boolean {
  const q = flow(src, dst, port, protocol);
  const f = snapshot.decideFlow(q);
  if (!f.allowed) return false;
  if (f.l7 === null) return true;
  expect(f.l7).toBe("dns");
  // No policy here names this, so it passes only where every name would.
  return snapshot.decideDns(f, q, { qname: "no-rule-names-this.invalid." }).allowed;
}

function expectDisjoint(rules: readonly NonTcpRule[]): void {
  const byKey = new Map<string, NonTcpRule[]>();
  for (const r of rules) {
    const key = `${r.ip} ${r.direction} ${r.protocol}`;
    byKey.set(key, [...(byKey.get(key) ?? []), r]);
    for (const list of [r.endpointPeers, r.otherPeers]) {
      const ranges = list.map((c) => parseCidr(c)!);
      for (let i = 0; i < ranges.length; i++) {
        for (let j = i + 1; j < ranges.length; j++) {
          const [x, y] = [ranges[i]!, ranges[j]!];
          expect(x.family !== y.family || x.end < y.start || y.end < x.start, `${x.text} overlaps ${y.text}`).toBe(true);
        }
      }
    }
  }
  for (const [key, list] of byKey) {
    const sorted = [...list].sort((x, y) => x.portLo - y.portLo);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.portLo > sorted[i - 1]!.portHi, `${key}: port ranges overlap`).toBe(true);
  }
}

describe("nonTcpPolicy gives decideFlow's verdicts for UDP and SCTP", () => {
  const endpointIps = ["10.9.0.1", "fd00:9::1", "10.9.0.2", "fd00:9::2", "10.9.0.10", "fd00:9::10", "10.9.1.2", "10.9.1.3", "10.9.2.53"];
  const ips = [...endpointIps, ...WORLD];
  for (const [name, yaml] of Object.entries(POLICIES)) {
    it(name, () => {
      const { snapshot } = compileYaml(yaml, endpoints);
      const policy = snapshot.nonTcpPolicy();
      expectDisjoint(policy.allow);
      expectDisjoint(policy.deny);
      let allowed = 0;
      let denied = 0;
      const mismatches: string[] = [];
      for (const src of ips) {
        for (const dst of ips) {
          if (src === dst || src.includes(":") !== dst.includes(":")) continue;
          for (const protocol of PROTOCOLS) {
            for (const port of PORTS) {
              const want = engineAllows(snapshot, src, dst, protocol, port);
              if (want) allowed++;
              else denied++;
              if (kernelAllows(policy, snapshot, src, dst, protocol, port) !== want) {
                mismatches.push(`${src} -> ${dst} ${protocol}/${port}: engine ${want ? "allows" : "denies"}`);
              }
            }
          }
        }
      }
      expect(mismatches.slice(0, 20)).toEqual([]);
      // The comparison means something only if both verdicts occur.
      expect(allowed).toBeGreaterThan(0);
      expect(denied).toBeGreaterThan(0);
    });
  }
});

describe("nonTcpPolicy rules", () => {
  it("say which peers may send what, per enforced address", () => {
    const { snapshot } = compileYaml(
      `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: udp, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: a}}]
    toPorts: [{ports: [{port: "5353", protocol: UDP}]}]
  - fromCIDRSet: [{cidr: 192.0.2.0/24, except: [192.0.2.0/25]}]
    toPorts: [{ports: [{port: "5353", protocol: UDP}]}]
`,
      endpoints,
    );
    const p = snapshot.nonTcpPolicy();
    expect(p.endpointIps).toContain("10.9.0.1");
    expect(p.endpointIps).toContain("fd00:9::10");
    expect(p.deny).toEqual([]);
    expect(p.allow).toEqual([
      { ip: "10.9.0.10", direction: "ingress", protocol: "UDP", portLo: 5353, portHi: 5353, endpointPeers: ["10.9.0.1/32"], otherPeers: ["192.0.2.128/25"] },
      { ip: "fd00:9::10", direction: "ingress", protocol: "UDP", portLo: 5353, portHi: 5353, endpointPeers: ["fd00:9::1/128"], otherPeers: [] },
    ]);
  });

  it("are empty for an enforced endpoint that allows only TCP, so its datagrams are dropped", () => {
    const { snapshot } = compileYaml(
      `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: tcp-only, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - toPorts: [{ports: [{port: "80", protocol: TCP}]}]
`,
      endpoints,
    );
    expect(snapshot.enforcedIps().ingress).toEqual(["10.9.0.10", "fd00:9::10"]);
    expect(snapshot.nonTcpPolicy().allow).toEqual([]);
  });

  it("write every endpoint as one prefix and world as the whole family", () => {
    const { snapshot } = compileYaml(
      `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: open, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
  - toPorts: [{ports: [{port: "0", protocol: SCTP}]}]
`,
      endpoints,
    );
    expect(snapshot.nonTcpPolicy().allow).toEqual([
      { ip: "10.9.0.10", direction: "ingress", protocol: "SCTP", portLo: 0, portHi: 65535, endpointPeers: ["0.0.0.0/0"], otherPeers: ["0.0.0.0/0"] },
      { ip: "fd00:9::10", direction: "ingress", protocol: "SCTP", portLo: 0, portHi: 65535, endpointPeers: ["::/0"], otherPeers: ["::/0"] },
    ]);
  });
});
