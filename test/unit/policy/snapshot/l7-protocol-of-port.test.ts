// The snapshot settles one L7 protocol per connection. Two protocols for one port (across
// policies, or egress against ingress) cannot both be parsed: such connections are denied,
// and compiling says which port is affected.
import { describe, expect, it } from "vitest";
import { compileYaml, flow } from "../../../support/policy-fixtures.js";

const ENDPOINTS = `
endpoints:
  - {name: client, namespace: default, labels: {app: client}, ips: [10.0.0.1]}
  - {name: other, namespace: default, labels: {app: other}, ips: [10.0.0.3]}
  - {name: server, namespace: default, labels: {app: server}, ips: [10.0.0.2]}
`;

const ingress = (name: string, from: string, rules: string) => `---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: ${name}, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: server}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: ${from}}}]
      toPorts: [{ports: [{port: "9092", protocol: TCP}], rules: ${rules}}]
`;
const egressDns = `---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-dns, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
    - toEndpoints: [{matchLabels: {app: server}}]
      toPorts: [{ports: [{port: "9092", protocol: TCP}], rules: {dns: [{matchPattern: "*"}]}}]
`;
const HTTP = "{http: [{method: GET}]}";
const KAFKA = "{kafka: [{topic: t}]}";

describe("the L7 protocol of a port", () => {
  it("is the one protocol the matching rules name", () => {
    const { snapshot } = compileYaml(ingress("a", "client", KAFKA), ENDPOINTS);
    const f = snapshot.decideFlow(flow("10.0.0.1", "10.0.0.2", 9092));
    expect(f.allowed).toBe(true);
    expect(f.l7).toBe("kafka");
  });

  it("denies a connection whose matching rules name two protocols for the port, naming the policies, and warns", () => {
    const { snapshot, warnings } = compileYaml(ingress("a", "client", HTTP) + ingress("b", "client", KAFKA), ENDPOINTS);
    const f = snapshot.decideFlow(flow("10.0.0.1", "10.0.0.2", 9092));
    expect(f.allowed).toBe(false);
    expect(f.l7).toBeNull();
    expect(f.ingress.decidedBy).toMatchObject({ kind: "default-deny", policies: ["default/a", "default/b"] });
    expect(warnings.some((w) => /port TCP\/9092 \(http, kafka\) has L7 rules of more than one protocol/.test(w))).toBe(true);
  });

  it("leaves peers whose own rules agree alone: each connection gets its peer's protocol", () => {
    const { snapshot } = compileYaml(ingress("a", "client", HTTP) + ingress("b", "other", KAFKA), ENDPOINTS);
    expect(snapshot.decideFlow(flow("10.0.0.1", "10.0.0.2", 9092)).l7).toBe("http");
    expect(snapshot.decideFlow(flow("10.0.0.3", "10.0.0.2", 9092)).l7).toBe("kafka");
  });

  it("denies at the destination a connection whose egress rules name another protocol than its ingress rules", () => {
    const { snapshot } = compileYaml(egressDns + ingress("a", "client", HTTP), ENDPOINTS);
    const f = snapshot.decideFlow(flow("10.0.0.1", "10.0.0.2", 9092));
    expect(f.allowed).toBe(false);
    expect(f.egress.allowed).toBe(true);
    expect(f.ingress).toMatchObject({ allowed: false, decidedBy: { kind: "default-deny", policies: ["default/a"] } });
  });
});
