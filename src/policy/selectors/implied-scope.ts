// The namespace and cluster that Cilium adds to selectors it did not get from the user
// (pkg/k8s/apis/cilium.io/utils/utils.go, getEndpointSelector / ParseToCiliumRule):
// - the subject of a namespaced policy is always confined to the policy's namespace;
// - a namespaced policy's peers are confined to its namespace unless they name a namespace
//   (io.kubernetes.pod.namespace), select by namespace labels, or use reserved labels;
// - a cluster-wide policy's peers must at least have a namespace (i.e. be pods), so
//   `fromEndpoints: [{}]` there means "every pod in every namespace", not "everything";
//   except when its subject mentions `reserved:init` (init endpoints carry no namespace);
// - peers also get the local cluster's name unless they already select a cluster
//   (--policy-default-local-cluster, default true).

import {
  LABEL_CLUSTER,
  LABEL_NAMESPACE_LABELS_PREFIX,
  LABEL_POD_NAMESPACE,
  SOURCE_ANY,
  SOURCE_K8S,
  SOURCE_RESERVED,
} from "../labels/identity.js";
import { type LabelSelector, selectorHasKey, selectorHasKeyPrefix, selectorHasSource } from "./label-selector.js";

const exactly = (source: string, key: string, value: string) => ({ source, key, op: "In" as const, values: new Set([value]) });

/** The subject (endpointSelector / podSelector) of a policy living in `namespace` ("" = cluster-wide). */
export function scopeSubject(sel: LabelSelector, namespace: string): LabelSelector {
  if (namespace === "") return sel;
  // A user-written namespace requirement is replaced, as Cilium overwrites it.
  const kept = sel.requirements.filter(
    (r) => !((r.source === SOURCE_K8S || r.source === SOURCE_ANY) && r.key === LABEL_POD_NAMESPACE),
  );
  return { requirements: [...kept, exactly(SOURCE_K8S, LABEL_POD_NAMESPACE, namespace)] };
}

/** Whether a subject selector targets initialising endpoints, which carry no namespace label. */
export function selectsInit(sel: LabelSelector): boolean {
  return selectorHasKey(sel, SOURCE_RESERVED, "init");
}

/** A peer selector (fromEndpoints/toEndpoints) of a policy in `namespace` ("" = cluster-wide). */
export function scopePeer(sel: LabelSelector, namespace: string, clusterName: string, subjectSelectsInit: boolean): LabelSelector {
  if (selectorHasSource(sel, SOURCE_RESERVED)) return sel;
  const added = [];
  const namesNamespace = selectorHasKey(sel, SOURCE_K8S, LABEL_POD_NAMESPACE) || selectorHasKey(sel, SOURCE_ANY, LABEL_POD_NAMESPACE);
  if (!namesNamespace) {
    if (namespace === "") {
      // Init endpoints have no namespace label, so a cluster-wide policy that may apply to
      // them does not require its peers to have one. A namespaced policy never gets this
      // exception: its peers stay in its namespace whatever the subject says about init.
      if (!subjectSelectsInit) added.push({ source: SOURCE_K8S, key: LABEL_POD_NAMESPACE, op: "Exists" as const, values: new Set<string>() });
    } else if (
      !selectorHasKeyPrefix(sel, SOURCE_K8S, LABEL_NAMESPACE_LABELS_PREFIX) &&
      !selectorHasKeyPrefix(sel, SOURCE_ANY, LABEL_NAMESPACE_LABELS_PREFIX)
    ) {
      added.push(exactly(SOURCE_K8S, LABEL_POD_NAMESPACE, namespace));
    }
  }
  if (clusterName !== "" && !selectorHasKey(sel, SOURCE_K8S, LABEL_CLUSTER) && !selectorHasKey(sel, SOURCE_ANY, LABEL_CLUSTER)) {
    added.push(exactly(SOURCE_K8S, LABEL_CLUSTER, clusterName));
  }
  return added.length === 0 ? sel : { requirements: [...sel.requirements, ...added] };
}
