import { describe, expect, it } from "vitest";
import { errorsOf, expectDiagnostic, load } from "./diagnose.js";

const knp = (spec: string): string => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
  namespace: shop
spec:
${spec
  .split("\n")
  .map((l) => `  ${l}`)
  .join("\n")}
`;

describe("Kubernetes NetworkPolicy", () => {
  it("loads a valid policy with ipBlock, namespaceSelector+podSelector, endPort and policyTypes", () => {
    const text = knp(`podSelector: {matchLabels: {app: db}}
policyTypes: [Ingress, Egress]
ingress:
- from:
  - namespaceSelector: {matchLabels: {team: a}}
    podSelector: {matchLabels: {app: api}}
  - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
  ports:
  - {protocol: TCP, port: 5432}
  - {protocol: TCP, port: 8000, endPort: 8100}
  - {port: metrics}
egress:
- to: [{podSelector: {}}]`);
    const result = load(text);
    expect(result.diagnostics).toEqual([]);
    expect(result.policies.map((p) => [p.kind, p.namespace, p.name])).toEqual([["NetworkPolicy", "shop", "np"]]);
  });

  it("requires podSelector", () => {
    const text = knp(`ingress: [{}]`);
    // A missing field is reported at the key of the object that needs it.
    expectDiagnostic(text, { fieldPath: "spec.podSelector", message: "required field is missing", at: "spec:" });
  });

  it("rejects port 0, a quoted number, bad protocol and policyTypes values", () => {
    const text = knp(`podSelector: {}
policyTypes: [Both]
ingress:
- ports:
  - {port: 0}
  - {port: "80"}
  - {port: 80, protocol: ICMP}`);
    expectDiagnostic(text, { fieldPath: "spec.policyTypes[0]", message: 'invalid value "Both": must be one of Ingress, Egress', at: "Both" });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].ports[0].port", message: "invalid port 0: must be 1..65535", at: "0}" });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].ports[1].port", message: "must not be quoted", at: '"80"' });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].ports[2].protocol", message: 'invalid value "ICMP"', at: "ICMP" });
  });

  it("rejects endPort with a named port or below port", () => {
    const text = knp(`podSelector: {}
egress:
- ports:
  - {port: http, endPort: 90}
  - {port: 100, endPort: 90}`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].ports[0].endPort", message: "endPort requires port to be a number", at: "90}" });
    expectDiagnostic(text, { fieldPath: "spec.egress[0].ports[1].endPort", message: "endPort 90 must be >= port 100", at: "90}", nth: 1 });
  });

  it("rejects bad ipBlocks and ipBlock combined with selectors", () => {
    const text = knp(`podSelector: {}
ingress:
- from:
  - ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}
  - ipBlock: {cidr: "10.0.0.1"}
  - ipBlock: {cidr: 10.0.0.0/8}
    podSelector: {}
  - ipBlock: {except: [10.0.0.0/9]}`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].from[0].ipBlock.except[0]", message: "must be a strict subset", at: "11.0.0.0/16" });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].from[1].ipBlock.cidr", message: "a prefix length is required", at: '"10.0.0.1"' });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].from[2].ipBlock", message: "ipBlock may not be combined", at: "ipBlock", nth: 2 });
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].from[3].ipBlock.cidr", message: "required field is missing", at: "ipBlock: {except" });
  });

  it("rejects invalid label keys and unknown fields", () => {
    const text = knp(`podSelector: {matchLabels: {"bad key": x}}
ingres: []`);
    expectDiagnostic(text, { fieldPath: 'spec.podSelector.matchLabels["bad key"]', message: 'invalid label key "bad key"', at: '"bad key"' });
    expectDiagnostic(text, { fieldPath: "spec.ingres", message: 'unknown field "ingres" (did you mean "ingress"?)', at: "ingres" });
    expect(errorsOf(text)).toHaveLength(2);
  });
});

describe("NetworkPolicy null lists", () => {
  it("reads `to:` with no value as omitted (all destinations), as Kubernetes decodes it", () => {
    const text = knp(`podSelector: {}
egress:
- to:
  ports: [{port: 53, protocol: UDP}]`);
    const r = load(text);
    expect(r.diagnostics).toEqual([]);
    const [p] = r.policies;
    expect(p?.kind === "NetworkPolicy" && p.spec.egress).toEqual([{ ports: [{ port: 53, protocol: "UDP" }] }]);
  });
});
