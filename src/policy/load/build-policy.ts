// One manifest value -> a LoadedPolicy (when it is a valid policy), a skip note (when it is some
// other Kubernetes object), or errors. Shared by files and by the Kubernetes API source.

import type { LoadedPolicy, PolicyKind, Rule, NetworkPolicySpec, SourceLocation } from "../api/types.js";
import {
  formatFieldPath,
  parseFieldPath,
  validatePolicyManifest,
  type Issue,
  type PathSegment,
} from "../validate/index.js";
import type { Diagnostic } from "./diagnostic.js";
import type { Locator } from "./locate.js";

const POLICY_API_VERSIONS: Record<PolicyKind, string> = {
  CiliumNetworkPolicy: "cilium.io/v2",
  CiliumClusterwideNetworkPolicy: "cilium.io/v2",
  NetworkPolicy: "networking.k8s.io/v1",
};

export type BuildOutcome =
  | { kind: "policy"; policyKind: PolicyKind; policy?: LoadedPolicy; diagnostics: Diagnostic[] }
  | { kind: "skipped"; objectKind: string; diagnostics: Diagnostic[] };

/**
 * `base` is where the manifest sits inside its document (e.g. ["items", 3] in a List); field
 * paths in diagnostics include it so users can find the spot, while `locate` on the policy
 * takes paths relative to the manifest.
 */
export function buildPolicy(value: unknown, file: string, locator: Locator | undefined, base: readonly PathSegment[] = []): BuildOutcome {
  const at = (path: readonly PathSegment[], where: "key" | "value" = "value"): SourceLocation =>
    locator?.([...base, ...path], where) ?? { file, line: 0, col: 0 };
  const diag = (issue: Issue): Diagnostic => {
    const pos = at(issue.path, issue.at);
    return {
      severity: issue.severity,
      code: issue.code,
      file,
      line: pos.line,
      col: pos.col,
      fieldPath: formatFieldPath([...base, ...issue.path]),
      message: issue.message,
    };
  };
  const error = (code: Diagnostic["code"], path: PathSegment[], message: string, severity: Diagnostic["severity"] = "error"): Diagnostic =>
    diag({ severity, code, path, at: "value", message });

  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "skipped", objectKind: "(not an object)", diagnostics: [error("L7P_ERR_POLICY_SCHEMA", [], "a manifest must be an object with apiVersion and kind")] };
  }
  const kind = (value as Record<string, unknown>)["kind"];
  const apiVersion = (value as Record<string, unknown>)["apiVersion"];
  if (typeof kind !== "string") {
    return {
      kind: "skipped",
      objectKind: "(no kind)",
      diagnostics: [error("L7P_WARN_POLICY_IGNORED_FIELD", [], "not a Kubernetes object (no kind): skipped", "warning")],
    };
  }
  if (!(kind in POLICY_API_VERSIONS)) {
    const near = (Object.keys(POLICY_API_VERSIONS) as PolicyKind[]).find((k) => k.toLowerCase() === kind.toLowerCase() || nearlyEqual(k, kind));
    if (near !== undefined) {
      return { kind: "skipped", objectKind: kind, diagnostics: [error("L7P_ERR_POLICY_SCHEMA", ["kind"], `unknown kind "${kind}" (did you mean "${near}"?)`)] };
    }
    return {
      kind: "skipped",
      objectKind: kind,
      diagnostics: [error("L7P_NOTE_SKIPPED_KIND", ["kind"], `skipped ${kind}: not a network policy kind l7proxy reads`, "note")],
    };
  }
  const policyKind = kind as PolicyKind;
  const wantedApi = POLICY_API_VERSIONS[policyKind];
  if (apiVersion !== wantedApi) {
    if (policyKind === "NetworkPolicy" && typeof apiVersion === "string" && !apiVersion.startsWith("networking.k8s.io/") && !apiVersion.startsWith("extensions/")) {
      // Some other API group's NetworkPolicy (e.g. crd.projectcalico.org/v1): not ours.
      return {
        kind: "skipped",
        objectKind: `${apiVersion} ${kind}`,
        diagnostics: [error("L7P_NOTE_SKIPPED_KIND", ["apiVersion"], `skipped ${kind} of ${apiVersion}: not networking.k8s.io/v1`, "note")],
      };
    }
    return {
      kind: "policy",
      policyKind,
      diagnostics: [error("L7P_ERR_POLICY_SCHEMA", ["apiVersion"], `apiVersion must be ${wantedApi} for ${kind}, not ${JSON.stringify(apiVersion ?? null)}`)],
    };
  }

  const issues = validatePolicyManifest(value, policyKind);
  const diagnostics = issues.map(diag);
  if (diagnostics.some((d) => d.severity === "error")) return { kind: "policy", policyKind, diagnostics };
  // The loaded policy owns its data: later edits to the caller's object cannot change it.
  const manifest = structuredClone(value) as Record<string, unknown>;
  for (const issue of issues) if (issue.prune === true) removePath(manifest, issue.path);

  const meta = manifest["metadata"] as { name: string; namespace?: string };
  const common = {
    name: meta.name,
    namespace: policyKind === "CiliumClusterwideNetworkPolicy" ? "" : meta.namespace === undefined || meta.namespace === "" ? "default" : meta.namespace,
    source: at([]),
    locate: (fieldPath: string): SourceLocation => at(parseFieldPath(fieldPath)),
  };
  let policy: LoadedPolicy;
  if (policyKind === "NetworkPolicy") {
    // Kubernetes decodes `field: null` of built-in types as an omitted field.
    policy = { ...common, kind: policyKind, spec: dropNulls(manifest["spec"]) as NetworkPolicySpec };
  } else {
    const rules: Rule[] = [];
    if (manifest["spec"] !== undefined) rules.push(manifest["spec"] as Rule);
    if (Array.isArray(manifest["specs"])) rules.push(...(manifest["specs"] as Rule[]));
    policy = { ...common, kind: policyKind, rules };
  }
  return { kind: "policy", policyKind, policy, diagnostics };
}

function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (typeof v !== "object" || v === null) return v;
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
}

function removePath(root: unknown, path: readonly PathSegment[]): void {
  let node: unknown = root;
  for (const seg of path.slice(0, -1)) {
    if (typeof node !== "object" || node === null) return;
    node = (node as Record<string | number, unknown>)[seg];
  }
  const last = path[path.length - 1];
  if (typeof node === "object" && node !== null && last !== undefined) delete (node as Record<string | number, unknown>)[last];
}

function nearlyEqual(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  let i = 0;
  while (i < la.length && la[i] === lb[i]) i++;
  let j = 0;
  while (j < la.length - i && j < lb.length - i && la[la.length - 1 - j] === lb[lb.length - 1 - j]) j++;
  return la.length - i - j <= 2 && lb.length - i - j <= 2;
}
