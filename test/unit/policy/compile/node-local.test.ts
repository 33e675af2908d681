// `run --node-name`: each node enforces only its own endpoints; the others stay identities,
// so a rule can still name them as peers, but their sides are decided on their own node.

import { describe, expect, it } from "vitest";
import { compileYaml, flow, httpRequest } from "../../../support/policy-fixtures.js";

const endpoints = `
endpoints:
  - {name: a, namespace: default, labels: {app: a}, ips: [10.9.1.10], nodeName: node-1}
  - {name: b, namespace: default, labels: {app: b}, ips: [10.9.2.20], nodeName: node-2}
  - {name: b-near, namespace: default, labels: {app: b}, ips: [10.9.1.20], nodeName: node-1}
  - {name: nowhere, namespace: default, labels: {app: b}, ips: [10.9.3.30]}
`;
const A = "10.9.1.10";
const B = "10.9.2.20";
const B_NEAR = "10.9.1.20";
const NOWHERE = "10.9.3.30";

const policies = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a-egress, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
    - toEndpoints: [{matchLabels: {app: b}}]
      toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET, path: "/"}]}}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-ingress, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: a}}]
      toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{method: GET, path: "/"}, {method: GET, path: "/x"}]}}]
`;

describe("node-local enforcement", () => {
  it("enforces only this node's endpoints, and endpoints without nodeName", () => {
    const { snapshot } = compileYaml(policies, endpoints, 1, "node-1");
    expect(snapshot.enforcedIps()).toEqual({ ingress: [B_NEAR, NOWHERE], egress: [A] });
    const other = compileYaml(policies, endpoints, 1, "node-2").snapshot;
    expect(other.enforcedIps()).toEqual({ ingress: [B, NOWHERE], egress: [] });
  });

  it("decides only the local side of a flow to a remote endpoint", () => {
    const { snapshot } = compileYaml(policies, endpoints, 1, "node-1");
    const q = flow(A, B, 80);
    const f = snapshot.decideFlow(q);
    expect(f.allowed).toBe(true);
    expect(f.egress.enforced).toBe(true);
    expect(f.ingress.enforced).toBe(false);
    // b's ingress would allow /x, a's egress does not: node-1 says no, on a's behalf.
    expect(snapshot.decideHttp(f, q, httpRequest("GET", "/x")).allowed).toBe(false);
  });

  it("on the server's node, decides the ingress of a caller from another node by its identity", () => {
    const { snapshot } = compileYaml(policies, endpoints, 1, "node-2");
    const q = flow(A, B, 80);
    const f = snapshot.decideFlow(q);
    expect(f.egress.enforced).toBe(false);
    expect(f.ingress.enforced).toBe(true);
    expect(f.allowed).toBe(true);
    expect(f.source.endpoint?.name).toBe("a");
    expect(snapshot.decideHttp(f, q, httpRequest("GET", "/x")).allowed).toBe(true);
    // The node's own address is no endpoint: world, which b's ingress refuses.
    expect(snapshot.decideFlow(flow("10.200.255.1", B, 80)).allowed).toBe(false);
  });

  it("decides both sides where both ends are local", () => {
    const { snapshot } = compileYaml(policies, endpoints, 1, "node-1");
    const q = flow(A, B_NEAR, 80);
    const f = snapshot.decideFlow(q);
    expect(f.egress.enforced && f.ingress.enforced).toBe(true);
    expect(snapshot.decideHttp(f, q, httpRequest("GET", "/x")).allowed).toBe(false);
  });

  it("without a node name every endpoint is enforced (one node)", () => {
    const { snapshot } = compileYaml(policies, endpoints);
    expect(snapshot.enforcedIps().ingress.sort()).toEqual([B_NEAR, B, NOWHERE].sort());
  });
});
