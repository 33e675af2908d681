// Pure validation of one policy manifest (already parsed from YAML/JSON): every problem with
// its field path. The loader (src/policy/load) attaches file positions.

import { ciliumPolicyShape } from "./cilium-shape.js";
import { checkCiliumRule } from "./cilium-rules.js";
import { IssueSink, type Issue } from "./issue.js";
import { checkMetadata } from "./metadata.js";
import { validateNetworkPolicyValue } from "./network-policy.js";
import { checkShape, isPlainObject } from "./shape.js";

export { formatFieldPath, parseFieldPath, type Issue, type PathSegment, type Severity } from "./issue.js";
export { NOT_ENFORCED_FEATURES } from "./not-enforced.js";
export { ciliumPolicyShape } from "./cilium-shape.js";
export type { Shape } from "./shape.js";

export type PolicyManifestKind = "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy" | "NetworkPolicy";

/** Validates a manifest of a known policy kind; `issues` holds errors and warnings. */
export function validatePolicyManifest(value: unknown, kind: PolicyManifestKind): Issue[] {
  const sink = new IssueSink();
  if (!isPlainObject(value)) {
    sink.error("L7P_ERR_POLICY_SCHEMA", [], "a policy manifest must be an object");
    return sink.issues;
  }
  checkMetadata(value, kind === "CiliumClusterwideNetworkPolicy", sink);
  if (kind === "NetworkPolicy") {
    validateNetworkPolicyValue(value, sink);
    return sink.issues;
  }
  checkShape(value, ciliumPolicyShape, [], sink);
  const clusterwide = kind === "CiliumClusterwideNetworkPolicy";
  // The CRD's CEL rule: has(self.spec) || has(self.specs).
  if (!("spec" in value) && !("specs" in value)) {
    sink.error("L7P_ERR_POLICY_MISSING", [], `a ${kind} needs spec or specs`);
  }
  if ("spec" in value) checkCiliumRule(value["spec"], ["spec"], clusterwide, sink);
  const specs = value["specs"];
  if (Array.isArray(specs)) specs.forEach((rule, i) => checkCiliumRule(rule, ["specs", i], clusterwide, sink));
  return sink.issues;
}
