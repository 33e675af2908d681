// Security identities as one string: the pods of one workload share it (Cilium's default
// identity-relevant labels leave out what differs per pod), anything else that differs does not.
import { describe, expect, it } from "vitest";
import { endpointIdentity, identityKey, isIdentityRelevant } from "../../../../src/policy/labels/identity.js";
import type { Endpoint } from "../../../../src/policy/endpoints/types.js";
import { compileYaml, flow } from "../../../support/policy-fixtures.js";

function pod(name: string, labels: Record<string, string>, extra: Partial<Endpoint> = {}): Endpoint {
  return { name, namespace: "empire", labels, ips: [], workload: name, ...extra };
}
const key = (ep: Endpoint, nsLabels: Record<string, string> = {}, cluster = "default") =>
  identityKey(endpointIdentity(ep, { name: ep.namespace, labels: nsLabels }, cluster));

describe("identityKey", () => {
  it("is the same for the pods of one StatefulSet (pod name, index and revision hash left out)", () => {
    const b0 = pod("kafka-0", { app: "kafka", "statefulset.kubernetes.io/pod-name": "kafka-0", "apps.kubernetes.io/pod-index": "0", "controller-revision-hash": "kafka-7d9c" });
    const b1 = pod("kafka-1", { app: "kafka", "statefulset.kubernetes.io/pod-name": "kafka-1", "apps.kubernetes.io/pod-index": "1", "controller-revision-hash": "kafka-8e0d" });
    expect(key(b0)).toBe(key(b1));
    const d0 = pod("web-1", { app: "web", "pod-template-hash": "7d9c8b6f5" });
    const d1 = pod("web-2", { app: "web", "pod-template-hash": "5f6b8c9d7" });
    expect(key(d0)).toBe(key(d1));
  });

  it("differs with any identity label, the namespace, its labels, the cluster or the service account", () => {
    const base = pod("kafka-0", { app: "kafka" });
    const k = key(base);
    expect(key(pod("x", { app: "rogue" }))).not.toBe(k);
    expect(key(pod("x", { app: "kafka", tier: "1" }))).not.toBe(k);
    expect(key(pod("x", { app: "kafka" }, { namespace: "rebels" }))).not.toBe(k);
    expect(key(base, { team: "x" })).not.toBe(k);
    expect(key(base, {}, "other")).not.toBe(k);
    expect(key(pod("x", { app: "kafka" }, { serviceAccount: "kafka" }))).not.toBe(k);
    // A pod label cannot pose as the namespace: the derived label wins.
    expect(key(pod("x", { app: "kafka", "io.kubernetes.pod.namespace": "rebels" }))).toBe(k);
  });

  it("follows Cilium's default filter: longest include beats shortest ignore", () => {
    expect(isIdentityRelevant("k8s", "app.kubernetes.io/name")).toBe(true);
    expect(isIdentityRelevant("k8s", "io.kubernetes.pod.namespace")).toBe(true);
    expect(isIdentityRelevant("k8s", "io.kubernetes.container.name")).toBe(false);
    expect(isIdentityRelevant("k8s", "kubernetes.io/hostname")).toBe(false);
    expect(isIdentityRelevant("k8s", "topology.beta.kubernetes.io/zone")).toBe(false);
    expect(isIdentityRelevant("k8s", "batch.kubernetes.io/job-completion-index")).toBe(false);
    expect(isIdentityRelevant("k8s", "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name")).toBe(true);
    expect(isIdentityRelevant("reserved", "world")).toBe(true);
  });

  it("is what the snapshot gives a destination endpoint", () => {
    const { snapshot } = compileYaml(
      "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: p, namespace: empire}\nspec:\n  endpointSelector: {}\n  ingress: [{}]\n",
      `namespaces: [{name: empire, labels: {}}]
endpoints:
  - {name: kafka-0, namespace: empire, labels: {app: kafka, statefulset.kubernetes.io/pod-name: kafka-0}, ips: [10.0.0.1]}
  - {name: kafka-1, namespace: empire, labels: {app: kafka, statefulset.kubernetes.io/pod-name: kafka-1}, ips: [10.0.0.2]}
  - {name: rogue, namespace: empire, labels: {app: rogue}, ips: [10.0.0.3]}
`,
    );
    const id = (ip: string) => snapshot.decideFlow(flow("10.0.0.9", ip, 9092)).destination.endpoint?.identity;
    expect(id("10.0.0.1")).toBeTypeOf("string");
    expect(id("10.0.0.1")).toBe(id("10.0.0.2"));
    expect(id("10.0.0.3")).not.toBe(id("10.0.0.1"));
    expect(id("192.0.2.1")).toBeUndefined();
  });
});
