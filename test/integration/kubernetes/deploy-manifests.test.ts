// deploy/: every kustomization lists exactly its files, every object is valid against the
// Kubernetes API schemas (kubernetes-models) and uses only fields the API defines, and the
// DaemonSet, RBAC and config fit together and with `l7proxy run`.

import { readFileSync, readdirSync, existsSync, statSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { ConfigMap, Namespace, ResourceQuota, ServiceAccount } from "kubernetes-models/v1";
import { ClusterRole, ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1";
import { parseRunConfig } from "../../../src/config/run-config.js";
import { build, kustomizationDirs, readKustomization, KUSTOMIZATION_KEYS, type K8sObject } from "../../support/kube-kustomize.js";
import { unknownFields } from "../../support/kube-openapi.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const deploy = path.join(repo, "deploy");
const NS = "l7proxy-system";

const MODELS: Record<string, { model: new (data: never) => { validate(): void }; type: string; namespaced: boolean }> = {
  "v1/Namespace": { model: Namespace as never, type: "V1Namespace", namespaced: false },
  "v1/ServiceAccount": { model: ServiceAccount as never, type: "V1ServiceAccount", namespaced: true },
  "v1/ConfigMap": { model: ConfigMap as never, type: "V1ConfigMap", namespaced: true },
  "v1/ResourceQuota": { model: ResourceQuota as never, type: "V1ResourceQuota", namespaced: true },
  "rbac.authorization.k8s.io/v1/ClusterRole": { model: ClusterRole as never, type: "V1ClusterRole", namespaced: false },
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": { model: ClusterRoleBinding as never, type: "V1ClusterRoleBinding", namespaced: false },
  "apps/v1/DaemonSet": { model: DaemonSet as never, type: "V1DaemonSet", namespaced: true },
  "apiextensions.k8s.io/v1/CustomResourceDefinition": { model: CustomResourceDefinition as never, type: "V1CustomResourceDefinition", namespaced: false },
};

const base = build(deploy);
const find = <T = K8sObject>(kind: string, objs = base): T => {
  const o = objs.find((x) => x.kind === kind);
  if (o === undefined) throw new Error(`no ${kind} in deploy/`);
  return o as T;
};

describe("deploy/ kustomizations", () => {
  const dirs = kustomizationDirs(deploy);

  it("has the base, the CRD component and the without-cilium overlay", () => {
    expect(dirs.map((d) => path.relative(deploy, d) || ".").sort()).toEqual([".", "components/cilium-crds", "overlays/without-cilium"]);
  });

  it.each(dirs.map((d) => [path.relative(deploy, d) || ".", d]))("%s lists every YAML file of its folder, and only files that exist", (_name, dir) => {
    const k = readKustomization(dir);
    expect(Object.keys(k).filter((key) => !KUSTOMIZATION_KEYS.has(key))).toEqual([]);
    expect(k.apiVersion).toBe(k.kind === "Component" ? "kustomize.config.k8s.io/v1alpha1" : "kustomize.config.k8s.io/v1beta1");
    const referenced = [...(k.resources ?? []), ...(k.components ?? []), ...(k.configMapGenerator ?? []).flatMap((g) => g.files ?? [])];
    for (const r of referenced) {
      const p = path.resolve(dir, r);
      expect(existsSync(p), `${r} listed in ${dir}/kustomization.yaml does not exist`).toBe(true);
      if (statSync(p).isDirectory()) expect(existsSync(path.join(p, "kustomization.yaml")), `${r} is a folder without kustomization.yaml`).toBe(true);
    }
    const yamlHere = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== "kustomization.yaml");
    const listedHere = new Set(referenced.filter((r) => !r.includes("/")));
    expect(yamlHere.filter((f) => !listedHere.has(f))).toEqual([]);
    expect(new Set(referenced).size).toBe(referenced.length);
  });

  it("keeps the CRDs out of the base (beside Cilium) and puts them in the without-cilium overlay", () => {
    expect(base.filter((o) => o.kind === "CustomResourceDefinition")).toEqual([]);
    const overlay = build(path.join(deploy, "overlays/without-cilium"));
    expect(overlay.filter((o) => o.kind === "CustomResourceDefinition").map((o) => o.metadata.name).sort()).toEqual([
      "ciliumclusterwidenetworkpolicies.cilium.io",
      "ciliumnetworkpolicies.cilium.io",
    ]);
    expect(overlay.length).toBe(base.length + 2);
  });
});

describe("deploy/ objects", () => {
  const all = build(path.join(deploy, "overlays/without-cilium"));

  it.each(all.map((o) => [`${o.kind} ${o.metadata.name}`, o]))("%s is valid against the Kubernetes schema and has no unknown fields", (_n, obj) => {
    const m = MODELS[`${obj.apiVersion}/${obj.kind}`];
    expect(m, `no schema for ${obj.apiVersion} ${obj.kind}`).toBeDefined();
    expect(() => new m!.model(obj as never).validate()).not.toThrow();
    expect(unknownFields(obj, m!.type)).toEqual([]);
    if (m!.namespaced) expect(obj.metadata.namespace).toBe(NS);
    else expect(obj.metadata.namespace).toBeUndefined();
  });

  it("catches a misspelt field and a wrong type (the checks above can fail)", () => {
    const ds = structuredClone(find("DaemonSet")) as { spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } } } };
    ds.spec.template.spec.toleration = ds.spec.template.spec.tolerations;
    (ds.spec.template.spec.containers[0]!.securityContext as Record<string, unknown>).capabilites = {};
    expect(unknownFields(ds, "V1DaemonSet").sort()).toEqual([".spec.template.spec.containers[0].securityContext.capabilites", ".spec.template.spec.toleration"]);
    ds.spec.template.spec.hostNetwork = "yes";
    expect(() => new DaemonSet(ds as never).validate()).toThrow(/hostNetwork/);
  });
});

describe("the DaemonSet", () => {
  type Container = {
    image: string;
    args: string[];
    env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
    ports?: unknown[];
    securityContext: { capabilities: { add: string[]; drop: string[] }; allowPrivilegeEscalation: boolean; runAsUser?: number };
    startupProbe: Probe;
    livenessProbe: Probe;
    readinessProbe: Probe;
    lifecycle: { preStop: { exec: { command: string[] } } };
    resources: { requests: Record<string, string>; limits: Record<string, string> };
    volumeMounts: { name: string; mountPath: string }[];
  };
  type Probe = { httpGet: { path: string; port: number; host?: string } };
  const ds = find<{
    spec: {
      updateStrategy: { type: string; rollingUpdate: { maxSurge: number; maxUnavailable: number } };
      template: {
        metadata: { annotations: Record<string, string> };
        spec: {
          hostNetwork: boolean;
          dnsPolicy: string;
          priorityClassName: string;
          terminationGracePeriodSeconds: number;
          serviceAccountName: string;
          tolerations: { operator: string }[];
          containers: Container[];
          volumes: { name: string; configMap?: { name: string } }[];
        };
      };
    };
  }>("DaemonSet");
  const pod = ds.spec.template.spec;
  const c = pod.containers[0]!;
  const configMap = find<{ metadata: { name: string }; data: Record<string, string> }>("ConfigMap");
  const configFile = c.args[c.args.indexOf("--config") + 1]!;
  const configMount = c.volumeMounts.find((m) => configFile.startsWith(`${m.mountPath}/`))!;

  function runConfig() {
    const dir = mkdtempSync(path.join(tmpdir(), "l7proxy-deploy-"));
    const file = path.join(dir, "config.yaml");
    writeFileSync(file, configMap.data[path.basename(configFile)]!);
    return parseRunConfig(["--config", file], { NODE_NAME: "node-a" });
  }

  it("runs in the node's network namespace with NET_ADMIN only", () => {
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(c.securityContext.capabilities).toEqual({ drop: ["ALL"], add: ["NET_ADMIN"] });
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it("runs on every node, first, and gets its node name from the downward API", () => {
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.tolerations).toContainEqual({ operator: "Exists" });
    expect(c.env).toContainEqual({ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } });
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
  });

  it("rolls out with a surge pod sharing the port, so it declares no (host) ports", () => {
    expect(ds.spec.updateStrategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    expect(c.ports).toBeUndefined();
  });

  it("runs `l7proxy run` with the ConfigMap's config, which l7proxy accepts", () => {
    expect(c.args.slice(0, 1)).toEqual(["run"]);
    const vol = pod.volumes.find((v) => v.name === configMount.name);
    expect(vol?.configMap?.name).toBe(configMap.metadata.name);
    const cfg = runConfig();
    expect(cfg).toMatchObject({ kubernetes: true, proxyPort: 15001, installRules: true, nodeName: "node-a" });
  });

  it("probes /healthz and /readyz, and Prometheus scrapes /metrics, on the admin port", () => {
    const admin = runConfig().admin!;
    expect(c.livenessProbe.httpGet).toMatchObject({ path: "/healthz", port: admin.port });
    expect(c.startupProbe.httpGet).toMatchObject({ path: "/healthz", port: admin.port });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: "/readyz", port: admin.port });
    // The kubelet shares the node's network namespace with this pod, so 127.0.0.1 reaches it
    // whatever address the admin server binds.
    expect(c.readinessProbe.httpGet.host).toBe("127.0.0.1");
    expect(ds.spec.template.metadata.annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": String(admin.port), "prometheus.io/path": "/metrics" });
  });

  it("gives the preStop pause and the proxy's drain time to finish within the grace period", () => {
    expect(c.lifecycle.preStop.exec.command[0]).toBe("sleep");
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    expect(preStop * 1000 + runConfig().drainTimeoutMs).toBeLessThan(pod.terminationGracePeriodSeconds * 1000);
  });

  it("uses the image kustomize sets, tagged with the package version", () => {
    const k = readKustomization(deploy);
    const pkg = JSON.parse(readFileSync(path.join(repo, "package.json"), "utf8")) as { version: string };
    expect(k.images).toContainEqual({ name: c.image, newName: "l7proxy", newTag: pkg.version });
  });
});

describe("RBAC", () => {
  it("binds the ClusterRole to the DaemonSet's ServiceAccount", () => {
    const sa = find("ServiceAccount");
    const crb = find<{ roleRef: { kind: string; name: string }; subjects: { kind: string; name: string; namespace: string }[] }>("ClusterRoleBinding");
    const cr = find("ClusterRole");
    const ds = find<{ spec: { template: { spec: { serviceAccountName: string } } } }>("DaemonSet");
    expect(crb.roleRef).toMatchObject({ kind: "ClusterRole", name: cr.metadata.name });
    expect(crb.subjects).toEqual([{ kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    expect(ds.spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
  });

  it("grants nothing that writes except creating Events, and no wildcards", () => {
    const cr = find<{ rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }>("ClusterRole");
    for (const r of cr.rules) {
      expect(r.resources).not.toContain("*");
      expect(r.apiGroups).not.toContain("*");
      expect(r.verbs).not.toContain("*");
      if (r.resources.includes("events")) expect(r.verbs).toEqual(["create"]);
      else expect(r.verbs).toEqual(["get", "list", "watch"]);
    }
  });
});
