// An L7 request that matches no rule is denied by default; the verdict still names the
// policies whose L7 rules govern the port, so flows and metrics can say which policy to read.
import { describe, expect, test } from "vitest";
import { compileYaml, flow, httpRequest } from "../../../support/policy-fixtures.js";

const ENDPOINTS = `
endpoints:
  - {name: api, namespace: shop, labels: {app: api}, ips: [10.1.0.1]}
  - {name: web, namespace: shop, labels: {app: web}, ips: [10.1.0.2]}
`;

function l7Policy(name: string, path: string): string {
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ${name}, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: web}}]
      toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules: {http: [{method: GET, path: "${path}"}]}
`;
}

describe("attribution of L7 default deny", () => {
  test("names every policy whose HTTP rules apply to the flow, in order", () => {
    const { snapshot } = compileYaml(`${l7Policy("read-items", "/items/.*")}---\n${l7Policy("read-health", "/health")}`, ENDPOINTS);
    const q = flow("10.1.0.2", "10.1.0.1", 80);
    const f = snapshot.decideFlow(q);
    expect(f.allowed).toBe(true);
    const v = snapshot.decideHttp(f, q, httpRequest("DELETE", "/items/1"));
    expect(v.allowed).toBe(false);
    expect(v.ingress.decidedBy).toMatchObject({ kind: "default-deny", policies: ["shop/read-items", "shop/read-health"] });
    const ok = snapshot.decideHttp(f, q, httpRequest("GET", "/health"));
    expect(ok.ingress.decidedBy).toMatchObject({ kind: "policy", policy: "shop/read-health", layer: "l7" });
  });

  test("an L3/L4 default deny names no policy", () => {
    const { snapshot } = compileYaml(l7Policy("read-items", "/items/.*"), ENDPOINTS);
    const f = snapshot.decideFlow(flow("10.1.0.2", "10.1.0.1", 81));
    expect(f.allowed).toBe(false);
    expect(f.ingress.decidedBy).toEqual({ kind: "default-deny" });
  });
});
