// Which DNS the DNS proxy sees, and how learned names reach decisions (TCP: dstNames) and the
// kernel's UDP/SCTP rules (nonTcpPolicy with learned IPs).
import { describe, expect, it } from "vitest";
import { compileYaml, flow } from "../../../support/policy-fixtures.js";

const endpoints = `
namespaces:
  - {name: default}
  - {name: kube-system}
endpoints:
  - {name: app, labels: {app: app}, ips: [10.9.0.1, "fd00:9::1"]}
  - {name: plain, labels: {app: plain}, ips: [10.9.0.2]}
  - {name: fqdn-only, labels: {app: fqdn-only}, ips: [10.9.0.3]}
  - {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}, ips: [10.9.2.53]}
`;

const POLICY = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: app, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: app}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}}]
    toPorts:
    - ports: [{port: "53", protocol: ANY}, {port: "5353", protocol: UDP}]
      rules: {dns: [{matchPattern: "*.example.com"}]}
  - toFQDNs: [{matchName: api.example.com}]
    toPorts: [{ports: [{port: "443", protocol: TCP}, {port: "8125", protocol: UDP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: plain, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: plain}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}}]
    toPorts: [{ports: [{port: "53", protocol: UDP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: fqdn-only, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: fqdn-only}}
  egress:
  - toFQDNs: [{matchPattern: "*.example.com"}]
`;

describe("DNS redirects and learned names", () => {
  const { snapshot } = compileYaml(POLICY, endpoints);

  it("redirects the DNS-rule ports of each address, and 53 for toFQDNs without DNS rules", () => {
    expect(snapshot.dnsRedirects()).toEqual([
      { ip: "10.9.0.1", port: 53 },
      { ip: "10.9.0.1", port: 5353 },
      { ip: "fd00:9::1", port: 53 },
      { ip: "fd00:9::1", port: 5353 },
      { ip: "10.9.0.3", port: 53 },
    ]);
  });

  it("a destination is reachable through toFQDNs only with a name learned for it", () => {
    const q = flow("10.9.0.1", "192.0.2.7", 443);
    expect(snapshot.decideFlow(q).allowed).toBe(false);
    expect(snapshot.decideFlow({ ...q, dstNames: ["api.example.com."] }).allowed).toBe(true);
    expect(snapshot.decideFlow({ ...q, dstNames: ["www.example.com."] }).allowed).toBe(false);
  });

  it("learned IPs of matching names become UDP allowances in the kernel's rules", () => {
    expect(snapshot.hasDatagramFqdnPeers()).toBe(true);
    const before = snapshot.nonTcpPolicy((m) => (m("api.example.com.") ? [] : []));
    expect(before.allow.some((r) => r.portLo === 8125)).toBe(false);
    const learned: Record<string, string[]> = { "api.example.com.": ["192.0.2.7"], "evil.test.": ["192.0.2.66"] };
    const lookup = (m: (n: string) => boolean) => Object.entries(learned).flatMap(([n, ips]) => (m(n) ? ips : []));
    const after = snapshot.nonTcpPolicy(lookup);
    const rule = after.allow.find((r) => r.ip === "10.9.0.1" && r.protocol === "UDP" && r.portLo === 8125);
    expect(rule?.otherPeers).toEqual(["192.0.2.7/32"]);
    expect(after.allow.some((r) => r.otherPeers.includes("192.0.2.66/32"))).toBe(false);
  });
});
