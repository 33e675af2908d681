import { describe, expect, it } from "vitest";
import { invalidPolicyEvent } from "../../../../src/control/kubernetes/policy-events.js";

const now = new Date("2025-01-02T03:04:05.678Z");

describe("invalidPolicyEvent", () => {
  it("builds a core/v1 Warning Event on a namespaced policy, in its namespace", () => {
    const ev = invalidPolicyEvent(
      { apiVersion: "cilium.io/v2", kind: "CiliumNetworkPolicy", metadata: { name: "p", namespace: "shop", uid: "u1", resourceVersion: "7" } },
      ["specs[0].ingress[0]: bad"],
      "node-a",
      now,
    );
    expect(ev).toMatchObject({
      apiVersion: "v1",
      kind: "Event",
      metadata: { namespace: "shop" },
      involvedObject: { apiVersion: "cilium.io/v2", kind: "CiliumNetworkPolicy", name: "p", namespace: "shop", uid: "u1", resourceVersion: "7" },
      reason: "InvalidPolicy",
      type: "Warning",
      message: "specs[0].ingress[0]: bad",
      firstTimestamp: "2025-01-02T03:04:05Z",
      count: 1,
      source: { component: "l7proxy", host: "node-a" },
    });
    expect(ev.metadata?.name).toMatch(/^p\.[0-9a-f]{16}$/);
  });

  it("puts Events of cluster-wide policies in the default namespace without an involvedObject namespace", () => {
    const ev = invalidPolicyEvent({ apiVersion: "cilium.io/v2", kind: "CiliumClusterwideNetworkPolicy", metadata: { name: "c", uid: "u2", resourceVersion: "1" } }, ["x"], "n", now);
    expect(ev.metadata?.namespace).toBe("default");
    expect(ev.involvedObject).not.toHaveProperty("namespace");
  });

  it("names one Event per policy version and node, so re-reporting is idempotent", () => {
    const obj = { kind: "CiliumNetworkPolicy", metadata: { name: "p", namespace: "s", uid: "u", resourceVersion: "1" } };
    const a = invalidPolicyEvent(obj, ["x"], "n1", now).metadata?.name;
    expect(invalidPolicyEvent(obj, ["y"], "n1", new Date()).metadata?.name).toBe(a);
    expect(invalidPolicyEvent(obj, ["x"], "n2", now).metadata?.name).not.toBe(a);
    expect(invalidPolicyEvent({ ...obj, metadata: { ...obj.metadata, resourceVersion: "2" } }, ["x"], "n1", now).metadata?.name).not.toBe(a);
  });

  it("keeps the message within the 1024 bytes the API allows", () => {
    const ev = invalidPolicyEvent({ kind: "CiliumNetworkPolicy", metadata: { name: "p", namespace: "s" } }, ["é".repeat(2000)], "n", now);
    expect(Buffer.byteLength(String(ev.message))).toBeLessThanOrEqual(1024);
  });
});
