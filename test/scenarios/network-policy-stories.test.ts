// Kubernetes NetworkPolicies (db-restrict-ingress, allow-external-api) and the cluster-wide
// *.example.com egress policy.

import { describe, expect, it } from "vitest";
import { compileYaml, flow } from "../support/policy-fixtures.js";

const endpoints = `
namespaces:
  - {name: shop, labels: {team: shop}}
  - {name: ops, labels: {team: ops}}
  - {name: kube-system}
endpoints:
  - {name: db-0, namespace: shop, labels: {app: db}, ips: [10.6.0.2]}
  - {name: backend-1, namespace: shop, labels: {app: backend}, ips: [10.6.0.3]}
  - {name: frontend-1, namespace: shop, labels: {app: frontend}, ips: [10.6.0.4]}
  - {name: admin-1, namespace: ops, labels: {role: admin}, ips: [10.6.0.5]}
  - {name: intruder, namespace: ops, labels: {role: viewer}, ips: [10.6.0.6]}
  - {name: backend-other, namespace: other, labels: {app: backend}, ips: [10.6.0.7]}
  - {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}, ips: [10.6.0.53]}
`;

describe("NetworkPolicy db-restrict-ingress", () => {
  const policy = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-restrict-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: backend}}
    - namespaceSelector: {matchLabels: {team: ops}}
      podSelector: {matchLabels: {role: admin}}
    ports:
    - {protocol: TCP, port: 5432}
`;
  const { snapshot, warnings } = compileYaml(policy, endpoints);
  const to = (src: string, port = 5432) => snapshot.decideFlow(flow(src, "10.6.0.2", port));

  it("compiles cleanly", () => expect(warnings).toEqual([]));

  it("lets backend pods of its own namespace reach the database on 5432", () => {
    const v = to("10.6.0.3");
    expect(v.allowed).toBe(true);
    expect(v.ingress.decidedBy).toMatchObject({ kind: "policy", policy: "shop/db-restrict-ingress", action: "allow" });
    expect(to("10.6.0.3", 5433).allowed).toBe(false);
  });

  it("ANDs namespaceSelector with podSelector in one peer", () => {
    expect(to("10.6.0.5").allowed).toBe(true);
    expect(to("10.6.0.6").allowed).toBe(false);
  });

  it("drops backend pods of other namespaces, other pods and the world", () => {
    expect(to("10.6.0.7").allowed).toBe(false);
    expect(to("10.6.0.4").allowed).toBe(false);
    expect(to("203.0.113.5").allowed).toBe(false);
  });

  it("leaves the database's egress alone", () => {
    expect(snapshot.decideFlow(flow("10.6.0.2", "203.0.113.5", 443)).allowed).toBe(true);
  });
});

describe("NetworkPolicy allow-external-api", () => {
  const policy = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-external-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: backend}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: 0.0.0.0/0
        except: [10.0.0.0/8, 169.254.169.254/32]
    ports:
    - {protocol: TCP, port: 443}
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
`;
  const { snapshot } = compileYaml(policy, endpoints);
  const from = (dst: string, port: number, proto: "TCP" | "UDP" = "TCP") => snapshot.decideFlow(flow("10.6.0.3", dst, port, proto));

  it("allows HTTPS to the internet but not to the excepted ranges", () => {
    expect(from("93.184.216.34", 443).allowed).toBe(true);
    expect(from("10.99.0.1", 443).allowed).toBe(false);
    expect(from("169.254.169.254", 443).allowed).toBe(false);
    expect(from("93.184.216.34", 80).allowed).toBe(false);
  });

  it("never lets ipBlock select cluster pods (Cilium's CIDR semantics)", () => {
    const v = from("10.6.0.4", 443);
    expect(v.allowed).toBe(false);
    expect(v.egress.decidedBy).toEqual({ kind: "default-deny" });
  });

  it("allows DNS to kube-dns only", () => {
    expect(from("10.6.0.53", 53, "UDP").allowed).toBe(true);
    expect(from("10.6.0.53", 53, "TCP").allowed).toBe(true);
    expect(from("10.6.0.4", 53, "UDP").allowed).toBe(false);
  });

  it("does not enforce ingress (policyTypes: [Egress])", () => {
    expect(snapshot.enforcedIps()).toEqual({ ingress: [], egress: ["10.6.0.3"] });
  });
});

describe("cluster-wide egress to *.example.com", () => {
  const policy = `
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: allow-example-com}
spec:
  endpointSelector: {}
  egress:
  - toEndpoints:
    - matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}
    toPorts:
    - ports: [{port: "53", protocol: ANY}]
      rules:
        dns: [{matchPattern: "*.example.com"}]
  - toFQDNs: [{matchPattern: "*.example.com"}]
    toPorts:
    - ports: [{port: "443", protocol: TCP}]
`;
  const { snapshot } = compileYaml(policy, endpoints);
  const learned = { "api.example.com": ["198.51.100.10"], "example.com": ["198.51.100.11"], "a.b.example.com": ["198.51.100.12"] };

  it("selects pods in every namespace", () => {
    expect(snapshot.enforcedIps().egress.sort()).toEqual(["10.6.0.2", "10.6.0.3", "10.6.0.4", "10.6.0.5", "10.6.0.53", "10.6.0.6", "10.6.0.7"].sort());
  });

  it("answers only *.example.com queries", () => {
    const q = flow("10.6.0.5", "10.6.0.53", 53, "UDP");
    const f = snapshot.decideFlow(q);
    expect(f.l7).toBe("dns");
    expect(snapshot.decideDns(f, q, { qname: "API.example.com." }).allowed).toBe(true);
    expect(snapshot.decideDns(f, q, { qname: "example.com" }).allowed).toBe(false);
    expect(snapshot.decideDns(f, q, { qname: "evil.com" }).allowed).toBe(false);
  });

  it("allows HTTPS to what DNS resolved for one label under example.com", () => {
    const to = (ip: string, port = 443) => snapshot.decideFlow(flow("10.6.0.7", ip, port, "TCP", learned)).allowed;
    expect(to("198.51.100.10")).toBe(true);
    expect(to("198.51.100.11")).toBe(false);
    expect(to("198.51.100.12")).toBe(false);
    expect(to("198.51.100.10", 80)).toBe(false);
  });
});
