import { describe, expect, it } from "vitest";
import { cnp, errorsOf, expectDiagnostic, load } from "./diagnose.js";

describe("unknown fields", () => {
  it("rejects a typo such as fromEndpoint, pointing at the key and suggesting the real name", () => {
    const text = cnp(`endpointSelector: {matchLabels: {app: a}}
ingress:
- fromEndpoint:
  - matchLabels: {app: b}`);
    const d = expectDiagnostic(text, {
      fieldPath: "spec.ingress[0].fromEndpoint",
      message: 'unknown field "fromEndpoint" (did you mean "fromEndpoints"?)',
      at: "fromEndpoint",
      code: "L7P_ERR_POLICY_UNKNOWN_FIELD",
    });
    expect(d.severity).toBe("error");
  });

  it("rejects unknown fields deep inside L7 rules", () => {
    const text = cnp(`endpointSelector: {}
ingress:
- toPorts:
  - ports: [{port: "80", protocol: TCP}]
    rules:
      http:
      - paht: /x`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].rules.http[0].paht", message: 'unknown field "paht"', at: "paht" });
  });

  it("rejects unknown fields inside features l7proxy does not enforce", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toGroups:
  - aws:
      regoin: us-east-1`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toGroups[0].aws.regoin", message: 'unknown field "regoin"', at: "regoin" });
  });

  it("rejects unknown top-level fields but leaves metadata and status to Kubernetes", () => {
    const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a, labels: {x: y}, annotations: {k: v}, uid: "1"}
status: {conditions: []}
spex: {}
spec: {endpointSelector: {}, ingress: [{}]}
`;
    const errs = errorsOf(text);
    expect(errs.map((e) => e.fieldPath)).toEqual(["spex"]);
  });
});

describe("types and enums", () => {
  it("rejects an unquoted port number and says to quote it", () => {
    const text = cnp(`endpointSelector: {}
ingress:
- toPorts:
  - ports:
    - port: 80`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].ports[0].port", message: 'must be a string, not number 80 (quote it: "80")', at: "80" });
  });

  it("rejects a lower-case protocol, as the CRD enum does", () => {
    const text = cnp(`endpointSelector: {}
ingress:
- toPorts:
  - ports: [{port: "80", protocol: tcp}]`);
    expectDiagnostic(text, { fieldPath: "spec.ingress[0].toPorts[0].ports[0].protocol", message: 'invalid value "tcp": must be one of TCP, UDP, SCTP, ANY', at: "tcp" });
  });

  it("rejects an entity outside the CRD enum (world-ipv4 is in Cilium's code but not its CRD)", () => {
    const text = cnp(`endpointSelector: {}
egress:
- toEntities: [world, world-ipv4]`);
    expectDiagnostic(text, { fieldPath: "spec.egress[0].toEntities[1]", message: 'invalid value "world-ipv4"', at: "world-ipv4" });
  });

  it("rejects an unknown matchExpressions operator and In without values", () => {
    const text = cnp(`endpointSelector:
  matchExpressions:
  - {key: app, operator: Equals, values: [a]}
  - {key: app, operator: In}
ingress: [{}]`);
    expectDiagnostic(text, { fieldPath: "spec.endpointSelector.matchExpressions[0].operator", message: 'invalid value "Equals"', at: "Equals" });
    expectDiagnostic(text, { fieldPath: "spec.endpointSelector.matchExpressions[1].values", message: "values must be non-empty when operator is In", at: "{key: app, operator: In}" });
  });

  it("rejects a list where an object is expected and null lists", () => {
    const text = cnp(`endpointSelector: []
ingress:`);
    expectDiagnostic(text, { fieldPath: "spec.endpointSelector", message: "must be an object, not a list", at: "[]" });
    expectDiagnostic(text, { fieldPath: "spec.ingress", message: "must be a list, not null", at: "ingress" });
  });

  it("rejects a boolean written as a string", () => {
    const text = cnp(`endpointSelector: {}
enableDefaultDeny: {ingress: "false"}
ingress: [{}]`);
    expectDiagnostic(text, { fieldPath: "spec.enableDefaultDeny.ingress", message: "must be a boolean", at: '"false"' });
  });

  it("rejects an invalid label value in matchLabels", () => {
    const text = cnp(`endpointSelector: {matchLabels: {app: "-bad-"}}
ingress: [{}]`);
    expectDiagnostic(text, { fieldPath: "spec.endpointSelector.matchLabels.app", message: 'invalid value "-bad-": a label value', at: '"-bad-"' });
  });

  it("quotes label keys with dots or colons in field paths", () => {
    const text = cnp(`endpointSelector: {matchLabels: {"k8s:io.kubernetes.pod.namespace": 5}}
ingress: [{}]`);
    expectDiagnostic(text, { fieldPath: 'spec.endpointSelector.matchLabels["k8s:io.kubernetes.pod.namespace"]', message: "must be a string", at: "5}" });
  });
});

describe("required fields", () => {
  it("requires spec or specs", () => {
    const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: a
`;
    const errs = errorsOf(text);
    expect(errs.map((e) => e.message)).toContain("a CiliumNetworkPolicy needs spec or specs");
  });

  it("requires metadata.name", () => {
    const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  namespace: x
spec: {endpointSelector: {}, ingress: [{}]}
`;
    expectDiagnostic(text, { fieldPath: "metadata.name", message: "metadata.name is required", at: "metadata" });
  });

  it("requires a direction in every rule", () => {
    const text = cnp(`endpointSelector: {}
description: nothing`);
    expectDiagnostic(text, { fieldPath: "spec", message: "rule must have at least one of ingress, ingressDeny, egress, egressDeny", at: "endpointSelector" });
  });

  it("requires exactly one of endpointSelector and nodeSelector", () => {
    const neither = cnp(`ingress: [{}]`);
    expectDiagnostic(neither, { fieldPath: "spec", message: "rule must have one of endpointSelector or nodeSelector", at: "ingress" });
    const both = cnp(
      `endpointSelector: {}
nodeSelector: {}
ingress: [{}]`,
      "CiliumClusterwideNetworkPolicy",
    );
    expectDiagnostic(both, { fieldPath: "spec.nodeSelector", message: "rule cannot have both endpointSelector and nodeSelector", at: "nodeSelector" });
  });

  it("rejects nodeSelector in a namespaced CiliumNetworkPolicy", () => {
    const text = cnp(`nodeSelector: {matchLabels: {role: worker}}
ingress: [{}]`);
    expectDiagnostic(text, { fieldPath: "spec.nodeSelector", message: "nodeSelector is not allowed in a namespaced CiliumNetworkPolicy", at: "nodeSelector" });
  });

  it("checks every rule of specs, with its index", () => {
    const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a}
specs:
- endpointSelector: {}
  ingress: [{}]
- endpointSelector: {}
`;
    expectDiagnostic(text, { fieldPath: "specs[1]", message: "rule must have at least one of", at: "endpointSelector", nth: 1 });
  });
});

describe("all problems are reported at once", () => {
  it("reports several independent errors in one document", () => {
    const text = cnp(`endpointSelector: {}
ingress:
- fromEntitis: [world]
  toPorts:
  - ports: [{port: "99999", protocol: TCP}]
egress:
- toCIDR: [10.0.0.0/40]`);
    const paths = errorsOf(text).map((e) => e.fieldPath);
    expect(paths).toEqual(
      expect.arrayContaining(["spec.ingress[0].fromEntitis", "spec.ingress[0].toPorts[0].ports[0].port", "spec.egress[0].toCIDR[0]"]),
    );
    expect(load(text).policies).toHaveLength(0);
  });
});
