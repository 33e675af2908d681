import { describe, expect, it } from "vitest";
import { policyFromObject } from "../../../../src/policy/load/index.js";

describe("policyFromObject", () => {
  const obj = {
    apiVersion: "cilium.io/v2",
    kind: "CiliumNetworkPolicy",
    metadata: { name: "api", namespace: "prod", resourceVersion: "12" },
    spec: { endpointSelector: { matchLabels: { app: "api" } }, ingress: [{ fromEndpoints: [{}] }] },
  };

  it("loads a policy object from the Kubernetes API, copying it", () => {
    const copy = structuredClone(obj);
    const { policy, diagnostics } = policyFromObject(copy, "k8s:prod/api");
    expect(diagnostics).toEqual([]);
    expect(policy).toMatchObject({ kind: "CiliumNetworkPolicy", name: "api", namespace: "prod", source: { file: "k8s:prod/api", line: 0, col: 0 } });
    copy.spec.ingress.push({ fromEndpoints: [{}] });
    expect(policy?.kind === "CiliumNetworkPolicy" && policy.rules[0]?.ingress).toHaveLength(1);
  });

  it("returns diagnostics without positions and no policy when invalid", () => {
    const bad = { ...obj, spec: { ...obj.spec, ingress: [{ fromEndpoint: [{}] }] } };
    const { policy, diagnostics } = policyFromObject(bad, "k8s:prod/api");
    expect(policy).toBeUndefined();
    expect(diagnostics).toMatchObject([{ severity: "error", file: "k8s:prod/api", line: 0, col: 0, fieldPath: "spec.ingress[0].fromEndpoint" }]);
  });

  it("reports other kinds as skipped notes", () => {
    const { policy, diagnostics } = policyFromObject({ apiVersion: "v1", kind: "Pod", metadata: { name: "x" } }, "k8s");
    expect(policy).toBeUndefined();
    expect(diagnostics.map((d) => d.severity)).toEqual(["note"]);
  });
});
