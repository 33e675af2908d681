import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { L7ProxyError } from "../../../../src/errors/codes.js";
import { loadEndpointsFile, parseEndpointsText } from "../../../../src/policy/endpoints/load-endpoints.js";
import { inventoryFromKubernetesObjects } from "../../../../src/policy/endpoints/kubernetes-objects.js";

function errorOf(text: string): L7ProxyError {
  try {
    parseEndpointsText(text, "eps.yaml");
  } catch (err) {
    if (err instanceof L7ProxyError) return err;
    throw err;
  }
  throw new Error("expected an error");
}

describe("endpoints file (l7proxy format)", () => {
  it("reads namespaces and endpoints with defaults", () => {
    const inv = parseEndpointsText(
      `namespaces:
  - name: default
    labels: {kubernetes.io/metadata.name: default}
endpoints:
  - name: deathstar-1
    labels: {org: empire, class: deathstar}
    ips: [10.0.2.2, "fd00::2"]
    workload: deathstar
  - name: xwing
    namespace: rebels
    ips: [10.0.2.3]
    serviceAccount: pilot
`,
      "eps.yaml",
    );
    expect(inv.namespaces).toEqual([{ name: "default", labels: { "kubernetes.io/metadata.name": "default" } }]);
    expect(inv.endpoints).toEqual([
      { name: "deathstar-1", namespace: "default", labels: { org: "empire", class: "deathstar" }, ips: ["10.0.2.2", "fd00::2"], workload: "deathstar" },
      { name: "xwing", namespace: "rebels", labels: {}, ips: ["10.0.2.3"], workload: "xwing", serviceAccount: "pilot" },
    ]);
  });

  it("names file:line:col and the field for every error", () => {
    expect(errorOf("endpoints:\n  - name: a\n    ips: [10.0.0.300]\n").message).toBe("eps.yaml:3:11: endpoints[0].ips[0]: not an IP address: 10.0.0.300");
    expect(errorOf("endpoints:\n  - name: a\n    ip: [10.0.0.1]\n").message).toBe('eps.yaml:3:5: endpoints[0].ip: unknown field "ip"');
    expect(errorOf("endpoints:\n  - ips: [10.0.0.1]\n").message).toBe('eps.yaml:2:5: endpoints[0]: missing required field "name"');
    expect(errorOf("endpoints:\n  - name: a\n    ips: [10.0.0.1]\n    labels: {replicas: 3}\n").message).toContain("eps.yaml:4:24: endpoints[0].labels.replicas: label values must be strings");
    expect(errorOf("endpoints: [\n").code).toBe("L7P_ERR_ENDPOINTS");
    expect(errorOf("endpoints:\n  - {name: a, ips: [10.0.0.1]}\n  - {name: a, ips: [10.0.0.2]}\n").message).toContain("default/a is listed twice");
  });

  it("reports an unreadable file with L7P_ERR_ENDPOINTS", async () => {
    await expect(loadEndpointsFile("/nonexistent/eps.yaml")).rejects.toMatchObject({ code: "L7P_ERR_ENDPOINTS" });
  });
});

describe("endpoints from Kubernetes objects", () => {
  const list = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop, labels: {team: a, kubernetes.io/metadata.name: shop}}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-7d9c8b6f5-x2x9q
    namespace: shop
    labels: {app: web, pod-template-hash: 7d9c8b6f5}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-7d9c8b6f5, controller: true, uid: u}]
  spec: {serviceAccountName: web, nodeName: node-1, containers: [{name: c, image: i}]}
  status: {phase: Running, podIP: 10.1.0.5, podIPs: [{ip: 10.1.0.5}, {ip: "fd00::5"}]}
- apiVersion: v1
  kind: Pod
  metadata:
    name: db-0
    namespace: shop
    labels: {app: db}
    ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, controller: true, uid: u}]
  spec: {containers: []}
  status: {phase: Running, podIPs: [{ip: 10.1.0.6}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: pending, namespace: shop}
  spec: {containers: []}
  status: {phase: Pending}
- apiVersion: v1
  kind: Pod
  metadata: {name: node-exporter, namespace: shop}
  spec: {hostNetwork: true, containers: []}
  status: {phase: Running, podIPs: [{ip: 192.168.1.10}]}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
`;

  it("reads `kubectl get pods,namespaces -A -o yaml` output", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "l7p-eps-"));
    writeFileSync(path.join(dir, "k.yaml"), list);
    return loadEndpointsFile(path.join(dir, "k.yaml")).then((inv) => {
      expect(inv.namespaces).toEqual([{ name: "shop", labels: { team: "a", "kubernetes.io/metadata.name": "shop" } }]);
      expect(inv.endpoints).toEqual([
        {
          name: "web-7d9c8b6f5-x2x9q",
          namespace: "shop",
          labels: { app: "web", "pod-template-hash": "7d9c8b6f5" },
          ips: ["10.1.0.5", "fd00::5"],
          workload: "web",
          serviceAccount: "web",
          nodeName: "node-1",
        },
        { name: "db-0", namespace: "shop", labels: { app: "db" }, ips: ["10.1.0.6"], workload: "db", serviceAccount: "default" },
      ]);
    });
  });

  it("is available as a pure function for the Kubernetes watch", () => {
    const inv = inventoryFromKubernetesObjects(
      [{ metadata: { name: "solo" }, spec: {}, status: { podIP: "10.2.0.1" } }, { bogus: true }],
      [{ metadata: { name: "default" } }, null],
    );
    expect(inv.endpoints).toEqual([{ name: "solo", namespace: "default", labels: {}, ips: ["10.2.0.1"], workload: "solo", serviceAccount: "default" }]);
    expect(inv.namespaces).toEqual([{ name: "default", labels: {} }]);
  });
});
