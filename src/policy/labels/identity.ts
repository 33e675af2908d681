// Security identities as Cilium builds them: a set of source-prefixed labels. A pod's identity
// holds its own labels with the `k8s` source plus labels Cilium derives from its namespace,
// cluster and service account; an address that belongs to no endpoint is `reserved:world`.
// Selectors (src/policy/selectors) match against these, never against raw pod labels, so that
// `any:` / `k8s:` / `reserved:` sources behave as in Cilium (pkg/labels/labels.go).

import type { Endpoint, NamespaceInfo } from "../endpoints/types.js";

export const SOURCE_ANY = "any";
export const SOURCE_K8S = "k8s";
export const SOURCE_RESERVED = "reserved";

export const LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace";
export const LABEL_NAMESPACE_LABELS_PREFIX = "io.cilium.k8s.namespace.labels.";
export const LABEL_CLUSTER = "io.cilium.k8s.policy.cluster";
const LABEL_SERVICE_ACCOUNT = "io.cilium.k8s.policy.serviceaccount";
/** Kubernetes puts this label on every namespace (since 1.21). */
const LABEL_NAMESPACE_NAME = "kubernetes.io/metadata.name";

export interface LabelKey {
  source: string;
  key: string;
}

/**
 * Splits "source:key" the way Cilium's parseSource does: `$key` is reserved, otherwise the
 * text before the first ':' is the source. Keys without a source get `defaultSource`.
 */
export function parseLabelKey(text: string, defaultSource: string): LabelKey {
  if (text.startsWith("$")) return { source: SOURCE_RESERVED, key: text.slice(1) };
  const colon = text.indexOf(":");
  if (colon < 0) return { source: defaultSource, key: text };
  return { source: text.slice(0, colon), key: text.slice(colon + 1) };
}

export interface Identity {
  /** "source:key" -> value. */
  readonly labels: ReadonlyMap<string, string>;
  /** key -> value regardless of source, for `any:` selectors (first source wins). */
  readonly byKey: ReadonlyMap<string, string>;
}

function makeIdentity(entries: [LabelKey, string][]): Identity {
  const labels = new Map<string, string>();
  const byKey = new Map<string, string>();
  for (const [k, v] of entries) {
    labels.set(`${k.source}:${k.key}`, v);
    if (!byKey.has(k.key)) byKey.set(k.key, v);
  }
  return { labels, byKey };
}

/** The identity of a pod: its labels and what Cilium derives from namespace, cluster, account. */
export function endpointIdentity(ep: Endpoint, namespace: NamespaceInfo | undefined, clusterName: string): Identity {
  const entries: [LabelKey, string][] = [];
  const k8s = (key: string, v: string): void => {
    entries.push([{ source: SOURCE_K8S, key }, v]);
  };
  // Derived labels go last so a pod label cannot pretend to be in another namespace: Cilium
  // overwrites them the same way.
  const derived = new Map<string, string>();
  derived.set(LABEL_POD_NAMESPACE, ep.namespace);
  const nsLabels = { [LABEL_NAMESPACE_NAME]: ep.namespace, ...(namespace?.labels ?? {}) };
  for (const [k, v] of Object.entries(nsLabels)) derived.set(LABEL_NAMESPACE_LABELS_PREFIX + k, v);
  derived.set(LABEL_CLUSTER, clusterName);
  if (ep.serviceAccount !== undefined) derived.set(LABEL_SERVICE_ACCOUNT, ep.serviceAccount);
  for (const [k, v] of Object.entries(ep.labels)) if (!derived.has(k)) k8s(k, v);
  for (const [k, v] of derived) k8s(k, v);
  return makeIdentity(entries);
}

/** Every address outside the cluster's endpoints. */
export const WORLD_IDENTITY: Identity = makeIdentity([[{ source: SOURCE_RESERVED, key: "world" }, ""]]);

// Cilium's default identity-relevant labels (pkg/labelsfilter, defaultLabelPrefixCfg): labels
// that differ from pod to pod of one workload (a StatefulSet's pod name and index, template
// hashes) are left out, so the pods of one workload share one security identity. A key is
// left out when an ignore pattern matches its start, unless an include prefix matches more
// of it (the shortest ignore against the longest include, as Cilium compares them).
const IDENTITY_INCLUDE = [LABEL_POD_NAMESPACE, LABEL_NAMESPACE_LABELS_PREFIX, "app.kubernetes.io", LABEL_CLUSTER];
const IDENTITY_IGNORE = [
  /^io\.kubernetes/,
  /^kubernetes\.io/,
  /^statefulset\.kubernetes\.io\/pod-name/,
  /^apps\.kubernetes\.io\/pod-index/,
  /^batch\.kubernetes\.io\/job-completion-index/,
  /^.*beta\.kubernetes\.io/,
  /^k8s\.io/,
  /^pod-template-generation/,
  /^pod-template-hash/,
  /^controller-revision-hash/,
  /^annotation.*/,
  /^etcd_node/,
];

/** Whether a label (its key without source) is part of the security identity. */
export function isIdentityRelevant(source: string, key: string): boolean {
  if (source === SOURCE_RESERVED) return true;
  let ignored = 0;
  for (const re of IDENTITY_IGNORE) {
    const m = re.exec(key);
    if (m !== null && (ignored === 0 || m[0].length < ignored)) ignored = m[0].length;
  }
  if (ignored === 0) return true;
  let included = 0;
  for (const p of IDENTITY_INCLUDE) if (key.startsWith(p) && p.length > included) included = p.length;
  return included > ignored;
}

/** "source:key" -> relevant: label keys repeat across endpoints, the patterns run once per key. */
const relevance = new Map<string, boolean>();

/**
 * The security identity as one canonical string: its identity-relevant labels, sorted. Two
 * endpoints have the same key exactly when Cilium would give them one identity (namespace,
 * its labels, cluster and service account included).
 */
export function identityKey(id: Identity): string {
  const parts: string[] = [];
  for (const [sk, v] of id.labels) {
    let relevant = relevance.get(sk);
    if (relevant === undefined) {
      const colon = sk.indexOf(":");
      relevant = isIdentityRelevant(sk.slice(0, colon), sk.slice(colon + 1));
      if (relevance.size >= 10_000) relevance.clear();
      relevance.set(sk, relevant);
    }
    if (relevant) parts.push(`${sk}=${v}`);
  }
  // JSON keeps the parts apart whatever characters label values hold.
  return JSON.stringify(parts.sort());
}
