// metadata.name / metadata.namespace: the only metadata l7proxy reads. Everything else in
// metadata (labels, annotations, uid, ...) belongs to Kubernetes and is left alone.

import { asObj } from "./access.js";
import type { IssueSink } from "./issue.js";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export function checkMetadata(manifest: Record<string, unknown>, clusterScoped: boolean, sink: IssueSink): void {
  if (!("metadata" in manifest)) {
    sink.error("L7P_ERR_POLICY_MISSING", ["metadata"], "metadata (with a name) is required");
    return;
  }
  const meta = asObj(manifest["metadata"]);
  if (meta === undefined) {
    sink.error("L7P_ERR_POLICY_SCHEMA", ["metadata"], "metadata must be an object");
    return;
  }
  const name = meta["name"];
  if (!("name" in meta)) {
    sink.error("L7P_ERR_POLICY_MISSING", ["metadata", "name"], "metadata.name is required");
  } else if (typeof name !== "string" || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    sink.error("L7P_ERR_POLICY_SCHEMA", ["metadata", "name"], `invalid name ${JSON.stringify(name)}: must be a lower-case DNS subdomain (letters, digits, '-', '.')`);
  }
  if (!("namespace" in meta)) return;
  const ns = meta["namespace"];
  if (typeof ns !== "string" || (ns !== "" && (ns.length > 63 || !DNS_LABEL.test(ns)))) {
    sink.error("L7P_ERR_POLICY_SCHEMA", ["metadata", "namespace"], `invalid namespace ${JSON.stringify(ns)}: must be a lower-case DNS label`);
  } else if (clusterScoped && ns !== "") {
    sink.warn(
      "L7P_WARN_POLICY_IGNORED_FIELD",
      ["metadata", "namespace"],
      "metadata.namespace is ignored: a CiliumClusterwideNetworkPolicy is cluster-scoped",
      "key",
    );
  }
}
