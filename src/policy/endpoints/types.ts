// Who is who: the endpoint inventory the policy engine resolves IPs against. Filled from an
// endpoints file today (src/policy/endpoints/load-endpoints.ts) and from the Kubernetes API later;
// both produce exactly this shape.

export interface NamespaceInfo {
  name: string;
  labels: Record<string, string>;
}

export interface Endpoint {
  name: string;
  namespace: string;
  /** Pod labels as Kubernetes shows them (no source prefix). */
  labels: Record<string, string>;
  ips: string[];
  /** Owning workload (Deployment, DaemonSet...); defaults to the endpoint name. */
  workload: string;
  serviceAccount?: string;
  /** Node the endpoint runs on, when known; only local endpoints are enforced by a node proxy. */
  nodeName?: string;
}

export interface EndpointInventory {
  namespaces: NamespaceInfo[];
  endpoints: Endpoint[];
}
