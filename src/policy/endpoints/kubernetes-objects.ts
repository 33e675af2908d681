// Pods and Namespaces (as the Kubernetes API or `kubectl get pods,namespaces -A -o yaml` show
// them) to the endpoint inventory. Shared by the endpoints file loader and, later, the
// Kubernetes watch. Pods without an IP yet, finished pods and host-network pods (whose address
// is the node's, which Cilium does not give a pod identity) are left out.

import type { Endpoint, EndpointInventory, NamespaceInfo } from "./types.js";

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v) ?? {})) if (typeof val === "string") out[k] = val;
  return out;
}

/** The workload a pod belongs to: its controller, with a ReplicaSet's template hash removed. */
function workloadOf(pod: Obj): string {
  const meta = obj(pod.metadata) ?? {};
  const name = typeof meta.name === "string" ? meta.name : "";
  const owners = Array.isArray(meta.ownerReferences) ? meta.ownerReferences.map(obj) : [];
  const owner = owners.find((o) => o?.controller === true) ?? owners[0];
  if (owner === undefined || typeof owner.name !== "string") return name;
  if (owner.kind === "ReplicaSet") {
    const hash = stringMap(meta.labels)["pod-template-hash"];
    if (hash !== undefined && owner.name.endsWith(`-${hash}`)) return owner.name.slice(0, -hash.length - 1);
    const dash = owner.name.lastIndexOf("-");
    return dash > 0 ? owner.name.slice(0, dash) : owner.name;
  }
  return owner.name;
}

function podToEndpoint(pod: unknown): Endpoint | undefined {
  const p = obj(pod);
  const meta = obj(p?.metadata);
  if (p === undefined || meta === undefined || typeof meta.name !== "string") return undefined;
  const spec = obj(p.spec) ?? {};
  const status = obj(p.status) ?? {};
  if (spec.hostNetwork === true) return undefined;
  if (status.phase === "Succeeded" || status.phase === "Failed") return undefined;
  const ips: string[] = [];
  if (Array.isArray(status.podIPs)) {
    for (const entry of status.podIPs) {
      const ip = obj(entry)?.ip;
      if (typeof ip === "string" && !ips.includes(ip)) ips.push(ip);
    }
  }
  if (ips.length === 0 && typeof status.podIP === "string") ips.push(status.podIP);
  if (ips.length === 0) return undefined;
  const ep: Endpoint = {
    name: meta.name,
    namespace: typeof meta.namespace === "string" && meta.namespace !== "" ? meta.namespace : "default",
    labels: stringMap(meta.labels),
    ips,
    workload: workloadOf(p),
  };
  const sa = spec.serviceAccountName ?? spec.serviceAccount;
  ep.serviceAccount = typeof sa === "string" && sa !== "" ? sa : "default";
  if (typeof spec.nodeName === "string") ep.nodeName = spec.nodeName;
  return ep;
}

function namespaceToInfo(ns: unknown): NamespaceInfo | undefined {
  const meta = obj(obj(ns)?.metadata);
  if (meta === undefined || typeof meta.name !== "string") return undefined;
  return { name: meta.name, labels: stringMap(meta.labels) };
}

export function inventoryFromKubernetesObjects(pods: unknown[], namespaces: unknown[]): EndpointInventory {
  return {
    namespaces: namespaces.map(namespaceToInfo).filter((n): n is NamespaceInfo => n !== undefined),
    endpoints: pods.map(podToEndpoint).filter((e): e is Endpoint => e !== undefined),
  };
}
