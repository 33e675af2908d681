import { describe, expect, it } from "vitest";
import { endpointIdentity, WORLD_IDENTITY } from "../../../../src/policy/labels/identity.js";
import { normalizeSelector, selectorMatches } from "../../../../src/policy/selectors/label-selector.js";
import { scopePeer, scopeSubject } from "../../../../src/policy/selectors/implied-scope.js";

const pod = endpointIdentity(
  { name: "p", namespace: "shop", labels: { app: "web", tier: "front" }, ips: ["10.0.0.1"], workload: "p", serviceAccount: "web-sa" },
  { name: "shop", labels: { team: "a" } },
  "default",
);
const m = (sel: Parameters<typeof normalizeSelector>[0], id = pod) => selectorMatches(normalizeSelector(sel), id);

describe("label selectors on identities", () => {
  it("matches any: (default), k8s: and rejects other sources", () => {
    expect(m({ matchLabels: { app: "web" } })).toBe(true);
    expect(m({ matchLabels: { "any:app": "web" } })).toBe(true);
    expect(m({ matchLabels: { "k8s:app": "web" } })).toBe(true);
    expect(m({ matchLabels: { "reserved:app": "web" } })).toBe(false);
    expect(m({ matchLabels: { app: "db" } })).toBe(false);
  });

  it("sees the labels Cilium derives from namespace, cluster and service account", () => {
    expect(m({ matchLabels: { "io.kubernetes.pod.namespace": "shop" } })).toBe(true);
    expect(m({ matchLabels: { "k8s:io.cilium.k8s.namespace.labels.team": "a" } })).toBe(true);
    expect(m({ matchLabels: { "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name": "shop" } })).toBe(true);
    expect(m({ matchLabels: { "io.cilium.k8s.policy.cluster": "default" } })).toBe(true);
    expect(m({ matchLabels: { "io.cilium.k8s.policy.serviceaccount": "web-sa" } })).toBe(true);
  });

  it("implements In, NotIn, Exists, DoesNotExist", () => {
    expect(m({ matchExpressions: [{ key: "tier", operator: "In", values: ["front", "back"] }] })).toBe(true);
    expect(m({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] })).toBe(false);
    expect(m({ matchExpressions: [{ key: "missing", operator: "NotIn", values: ["x"] }] })).toBe(true);
    expect(m({ matchExpressions: [{ key: "app", operator: "Exists" }] })).toBe(true);
    expect(m({ matchExpressions: [{ key: "app", operator: "DoesNotExist" }] })).toBe(false);
    expect(m({ matchLabels: { app: "web" }, matchExpressions: [{ key: "tier", operator: "In", values: ["back"] }] })).toBe(false);
  });

  it("matches the world identity only through reserved labels", () => {
    expect(m({}, WORLD_IDENTITY)).toBe(true);
    expect(m({ matchLabels: { "reserved:world": "" } }, WORLD_IDENTITY)).toBe(true);
    expect(m({ matchLabels: { "reserved:world": "" } })).toBe(false);
  });
});

describe("implied namespace and cluster", () => {
  const other = endpointIdentity({ name: "o", namespace: "other", labels: { app: "web" }, ips: [], workload: "o" }, undefined, "default");
  it("confines a namespaced policy's subject to its namespace, overriding the user's value", () => {
    const s = scopeSubject(normalizeSelector({ matchLabels: { "k8s:io.kubernetes.pod.namespace": "other", app: "web" } }), "shop");
    expect(selectorMatches(s, pod)).toBe(true);
    expect(selectorMatches(s, other)).toBe(false);
  });

  it("confines namespaced peers unless they name a namespace or namespace labels", () => {
    const plain = scopePeer(normalizeSelector({ matchLabels: { app: "web" } }), "shop", "default", false);
    expect(selectorMatches(plain, pod)).toBe(true);
    expect(selectorMatches(plain, other)).toBe(false);
    const named = scopePeer(normalizeSelector({ matchLabels: { "k8s:io.kubernetes.pod.namespace": "other" } }), "shop", "default", false);
    expect(selectorMatches(named, other)).toBe(true);
    const byNsLabel = scopePeer(normalizeSelector({ matchLabels: { "io.cilium.k8s.namespace.labels.team": "a" } }), "x", "default", false);
    expect(selectorMatches(byNsLabel, pod)).toBe(true);
  });

  it("makes {} in a cluster-wide policy mean every pod, never the world", () => {
    const all = scopePeer(normalizeSelector({}), "", "default", false);
    expect(selectorMatches(all, pod)).toBe(true);
    expect(selectorMatches(all, other)).toBe(true);
    expect(selectorMatches(all, WORLD_IDENTITY)).toBe(false);
  });

  it("adds the local cluster to peers", () => {
    const remote = endpointIdentity({ name: "r", namespace: "shop", labels: { app: "web" }, ips: [], workload: "r" }, undefined, "cluster2");
    const sel = scopePeer(normalizeSelector({ matchLabels: { app: "web" } }), "shop", "default", false);
    expect(selectorMatches(sel, remote)).toBe(false);
    const any = scopePeer(normalizeSelector({ matchLabels: { app: "web", "io.cilium.k8s.policy.cluster": "cluster2" } }), "shop", "default", false);
    expect(selectorMatches(any, remote)).toBe(true);
  });
});
