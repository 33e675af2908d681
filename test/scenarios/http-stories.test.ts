// HTTP stories: the retail app, the `app: myService` policy and `env: prod` -> GET /public.

import { describe, expect, it } from "vitest";
import { compileYaml, flow, httpRequest } from "../support/policy-fixtures.js";

describe("retail app: frontend-app may only read inventory and post payments", () => {
  const endpoints = `
endpoints:
  - {name: frontend-app-7d4f9, namespace: retail, labels: {app: frontend-app}, ips: [10.1.0.10], workload: frontend-app}
  - {name: inventory-api-0, namespace: retail, labels: {app: inventory-api}, ips: [10.1.0.20]}
  - {name: payment-gateway-0, namespace: retail, labels: {app: payment-gateway}, ips: [10.1.0.30]}
  - {name: reporting, namespace: retail, labels: {app: reporting}, ips: [10.1.0.40]}
`;
  const policy = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: frontend-egress, namespace: retail}
spec:
  endpointSelector: {matchLabels: {app: frontend-app}}
  egress:
  - toEndpoints: [{matchLabels: {app: inventory-api}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}]
      rules:
        http: [{method: GET, path: "/api/inventory/.*"}]
  - toEndpoints: [{matchLabels: {app: payment-gateway}}]
    toPorts:
    - ports: [{port: "8443", protocol: TCP}]
      rules:
        http: [{method: POST, path: "/process-payment"}]
`;
  const { snapshot, warnings } = compileYaml(policy, endpoints);
  const ask = (dst: string, port: number, method: string, p: string) => {
    const q = flow("10.1.0.10", dst, port);
    const f = snapshot.decideFlow(q);
    return { f, r: f.allowed ? snapshot.decideHttp(f, q, httpRequest(method, p)) : null };
  };

  it("compiles cleanly", () => expect(warnings).toEqual([]));

  it("allows GET under /api/inventory/ on inventory-api:8080 and nothing else there", () => {
    const ok = ask("10.1.0.20", 8080, "GET", "/api/inventory/sku-42?fields=qty");
    expect(ok.f.l7).toBe("http");
    expect(ok.r?.allowed).toBe(true);
    expect(ok.r?.egress.decidedBy).toMatchObject({ policy: "retail/frontend-egress", ruleIndex: 0, layer: "l7" });
    expect(ask("10.1.0.20", 8080, "POST", "/api/inventory/sku-42").r?.allowed).toBe(false);
    expect(ask("10.1.0.20", 8080, "GET", "/api/inventory").r?.allowed).toBe(false);
    expect(ask("10.1.0.20", 8080, "GET", "/admin").r?.allowed).toBe(false);
  });

  it("allows only POST /process-payment on payment-gateway", () => {
    expect(ask("10.1.0.30", 8443, "POST", "/process-payment").r?.allowed).toBe(true);
    expect(ask("10.1.0.30", 8443, "GET", "/process-payment").r?.allowed).toBe(false);
    expect(ask("10.1.0.30", 8443, "POST", "/refund").r?.allowed).toBe(false);
  });

  it("drops other ports and other destinations (egress default deny)", () => {
    expect(ask("10.1.0.20", 9090, "GET", "/api/inventory/x").f.allowed).toBe(false);
    expect(ask("10.1.0.30", 8080, "POST", "/process-payment").f.allowed).toBe(false);
    const other = ask("10.1.0.40", 8080, "GET", "/");
    expect(other.f.allowed).toBe(false);
    expect(other.f.egress.decidedBy).toEqual({ kind: "default-deny" });
    expect(ask("8.8.8.8", 443, "GET", "/").f.allowed).toBe(false);
  });

  it("does not restrict other clients of inventory-api (no ingress policy)", () => {
    const q = flow("10.1.0.40", "10.1.0.20", 8080);
    const f = snapshot.decideFlow(q);
    expect(f.allowed).toBe(true);
    expect(f.l7).toBeNull();
  });
});

describe("app: myService with methods, paths and a header", () => {
  const policy = `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7-rule}
spec:
  endpointSelector: {matchLabels: {app: myService}}
  ingress:
  - toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: GET, path: "/v1/path1"}
        - {method: PUT, path: "/v2/path2.*"}
        - method: POST
          path: ".*/path3"
          headers: ['X-My-Header: true']
`;
  const endpoints = `
endpoints:
  - {name: my-service, labels: {app: myService}, ips: [10.2.0.2]}
  - {name: client, labels: {app: client}, ips: [10.2.0.3]}
`;
  const { snapshot } = compileYaml(policy, endpoints);
  const q = flow("10.2.0.3", "10.2.0.2", 80);
  const f = snapshot.decideFlow(q);
  const allowed = (m: string, p: string, h: Record<string, string> = {}) => snapshot.decideHttp(f, q, httpRequest(m, p, h)).allowed;

  it("lets any peer connect on port 80 (no L3 peer: wildcard) with HTTP inspection", () => {
    expect(f.allowed).toBe(true);
    expect(f.l7).toBe("http");
    expect(snapshot.decideFlow(flow("192.0.2.1", "10.2.0.2", 80)).allowed).toBe(true);
  });

  it("matches GET /v1/path1 exactly", () => {
    expect(allowed("GET", "/v1/path1")).toBe(true);
    expect(allowed("GET", "/v1/path1/more")).toBe(false);
    expect(allowed("PUT", "/v1/path1")).toBe(false);
  });

  it("matches PUT /v2/path2.* as a prefix", () => {
    expect(allowed("PUT", "/v2/path2")).toBe(true);
    expect(allowed("PUT", "/v2/path2/x?y=z")).toBe(true);
    expect(allowed("PUT", "/v2/path")).toBe(false);
  });

  it("needs X-My-Header: true (name case-insensitive, value exact) for POST .*/path3", () => {
    expect(allowed("POST", "/a/b/path3", { "X-My-Header": "true" })).toBe(true);
    expect(allowed("POST", "/path3", { "x-my-header": "true" })).toBe(true);
    expect(allowed("POST", "/a/path3", { "X-My-Header": "True" })).toBe(false);
    expect(allowed("POST", "/a/path3", { "X-My-Header": "true, false" })).toBe(false);
    expect(allowed("POST", "/a/path3")).toBe(false);
    expect(allowed("POST", "/a/path3/x", { "X-My-Header": "true" })).toBe(false);
  });
});

describe("env: prod may GET /public on app: service", () => {
  const policy = `
apiVersion: "cilium.io/v2"
kind: CiliumNetworkPolicy
metadata:
  name: "rule1"
spec:
  description: "Allow HTTP GET /public from env=prod to app=service"
  endpointSelector:
    matchLabels:
      app: service
  ingress:
  - fromEndpoints:
    - matchLabels:
        env: prod
    toPorts:
    - ports:
      - port: "80"
        protocol: TCP
      rules:
        http:
        - method: "GET"
          path: "/public"
`;
  const endpoints = `
endpoints:
  - {name: service, labels: {app: service}, ips: [10.3.0.2]}
  - {name: prod-client, labels: {env: prod}, ips: [10.3.0.3]}
  - {name: dev-client, labels: {env: dev}, ips: [10.3.0.4]}
  - {name: prod-elsewhere, namespace: other, labels: {env: prod}, ips: [10.3.0.5]}
`;
  const { snapshot } = compileYaml(policy, endpoints);

  it("allows GET /public from env=prod only", () => {
    const q = flow("10.3.0.3", "10.3.0.2", 80);
    const f = snapshot.decideFlow(q);
    expect(snapshot.decideHttp(f, q, httpRequest("GET", "/public")).allowed).toBe(true);
    expect(snapshot.decideHttp(f, q, httpRequest("GET", "/private")).allowed).toBe(false);
    expect(snapshot.decideHttp(f, q, httpRequest("GET", "/public/")).allowed).toBe(false);
  });

  it("drops env=dev and env=prod pods of other namespaces (the policy's namespace is implied)", () => {
    expect(snapshot.decideFlow(flow("10.3.0.4", "10.3.0.2", 80)).allowed).toBe(false);
    expect(snapshot.decideFlow(flow("10.3.0.5", "10.3.0.2", 80)).allowed).toBe(false);
  });
});
