// networking.k8s.io/v1 NetworkPolicy: shape and the checks the Kubernetes API server applies
// (ValidateNetworkPolicy), so that what kubectl would refuse, l7proxy refuses too.

import RE2 from "re2";
import { asList, asObj, asStr, type Obj } from "./access.js";
import { checkCidr, cidrCovers } from "../net/ip.js";
import type { IssueSink, PathSegment } from "./issue.js";
import { checkK8sPort } from "./ports.js";
import { anyValue, arr, checkShape, int, map, obj, str, type ObjectShape, type ValueProblem } from "./shape.js";

const LABEL_VALUE = new RE2("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$");
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const cidrCheck = (v: string): ValueProblem | undefined => {
  const parsed = checkCidr(v);
  return typeof parsed === "string" ? { code: "L7P_ERR_POLICY_CIDR", message: parsed } : undefined;
};

const labelSelector = obj({
  matchExpressions: arr(
    obj({ key: str({ minLength: 1 }), operator: str({ enum: ["In", "NotIn", "Exists", "DoesNotExist"] }), values: arr(str()) }, ["key", "operator"]),
  ),
  matchLabels: map(str({ maxLength: 63, pattern: LABEL_VALUE, patternHint: "a label value: letters, digits, '-', '_', '.', starting and ending alphanumeric" })),
});

const NULLABLE = { nullable: true };

const peer = obj({
  ipBlock: obj({ cidr: str({ check: cidrCheck }), except: arr(str({ check: cidrCheck })) }, ["cidr"]),
  namespaceSelector: labelSelector,
  podSelector: labelSelector,
});

const port = obj({
  endPort: int({ min: 1, max: 65535, rangeCode: "L7P_ERR_POLICY_PORT" }),
  port: { kind: "int-or-string", check: checkK8sPort },
  protocol: str({ enum: ["TCP", "UDP", "SCTP"] }),
});

const networkPolicyShape: ObjectShape = obj({
  apiVersion: str(),
  kind: str(),
  metadata: { kind: "object", fields: {}, open: true },
  spec: obj(
    {
      // `to:` with no value is how Cilium's own tests write "all destinations".
      egress: arr(obj({ ports: arr(port, NULLABLE), to: arr(peer, NULLABLE) }), NULLABLE),
      ingress: arr(obj({ from: arr(peer, NULLABLE), ports: arr(port, NULLABLE) }), NULLABLE),
      podSelector: labelSelector,
      policyTypes: arr(str({ enum: ["Ingress", "Egress"] }), NULLABLE),
    },
    ["podSelector"],
  ),
  status: anyValue,
});

export function validateNetworkPolicyValue(value: unknown, sink: IssueSink): void {
  checkShape(value, networkPolicyShape, [], sink);
  const np = asObj(value);
  if (np === undefined) return;
  if (!("spec" in np)) {
    sink.error("L7P_ERR_POLICY_MISSING", ["spec"], "a NetworkPolicy needs a spec (with at least podSelector)");
    return;
  }
  const spec = asObj(np["spec"]);
  if (spec === undefined) return;
  checkSelector(spec["podSelector"], ["spec", "podSelector"], sink);
  for (const [dir, peersKey] of [["ingress", "from"], ["egress", "to"]] as const) {
    asList(spec[dir]).forEach((r, i) => {
      const rule = asObj(r);
      if (rule === undefined) return;
      const base: PathSegment[] = ["spec", dir, i];
      asList(rule[peersKey]).forEach((p, j) => checkPeer(p, [...base, peersKey, j], sink));
      asList(rule["ports"]).forEach((p, j) => checkPort(p, [...base, "ports", j], sink));
    });
  }
  const types = asList(spec["policyTypes"]);
  if (new Set(types).size !== types.length) sink.error("L7P_ERR_POLICY_SEMANTIC", ["spec", "policyTypes"], "policyTypes lists a type twice");
}

function checkPeer(value: unknown, path: PathSegment[], sink: IssueSink): void {
  const p = asObj(value);
  if (p === undefined) return;
  const kinds = ["podSelector", "namespaceSelector", "ipBlock"].filter((k) => k in p);
  if (kinds.length === 0) {
    sink.error("L7P_ERR_POLICY_MISSING", path, "a peer must specify podSelector, namespaceSelector or ipBlock");
  } else if ("ipBlock" in p && kinds.length > 1) {
    sink.error("L7P_ERR_POLICY_SEMANTIC", [...path, "ipBlock"], "ipBlock may not be combined with podSelector or namespaceSelector in one peer", "key");
  }
  checkSelector(p["podSelector"], [...path, "podSelector"], sink);
  checkSelector(p["namespaceSelector"], [...path, "namespaceSelector"], sink);
  const block = asObj(p["ipBlock"]);
  const cidrText = asStr(block?.["cidr"]);
  const allow = cidrText === undefined ? undefined : checkCidr(cidrText);
  if (block === undefined || allow === undefined || typeof allow === "string") return;
  asList(block["except"]).forEach((e, i) => {
    const ex = typeof e === "string" ? checkCidr(e) : undefined;
    if (ex === undefined || typeof ex === "string") return;
    // Kubernetes requires a strict subset: the except must lie inside and be smaller.
    if (!cidrCovers(allow, ex) || ex.bits <= allow.bits) {
      sink.error("L7P_ERR_POLICY_CIDR", [...path, "ipBlock", "except", i], `except ${String(e)} must be a strict subset of cidr ${cidrText}`);
    }
  });
}

function checkPort(value: unknown, path: PathSegment[], sink: IssueSink): void {
  const p = asObj(value);
  if (p === undefined || !("endPort" in p)) return;
  const portValue = p["port"];
  const endPort = p["endPort"];
  if (typeof portValue !== "number") {
    sink.error("L7P_ERR_POLICY_PORT", [...path, "endPort"], "endPort requires port to be a number (not a named port)");
  } else if (typeof endPort === "number" && endPort < portValue) {
    sink.error("L7P_ERR_POLICY_PORT", [...path, "endPort"], `endPort ${endPort} must be >= port ${portValue}`);
  }
}

function checkSelector(value: unknown, path: PathSegment[], sink: IssueSink): void {
  const sel = asObj(value);
  if (sel === undefined) return;
  const labels: Obj = asObj(sel["matchLabels"]) ?? {};
  for (const key of Object.keys(labels)) {
    if (!isQualifiedName(key)) sink.error("L7P_ERR_POLICY_SCHEMA", [...path, "matchLabels", key], `invalid label key ${JSON.stringify(key)}`, "key");
  }
  asList(sel["matchExpressions"]).forEach((e, i) => {
    const expr = asObj(e);
    if (expr === undefined) return;
    const p = [...path, "matchExpressions", i];
    const key = asStr(expr["key"]);
    if (key !== undefined && key !== "" && !isQualifiedName(key)) sink.error("L7P_ERR_POLICY_SCHEMA", [...p, "key"], `invalid label key ${JSON.stringify(key)}`);
    const op = asStr(expr["operator"]);
    const values = asList(expr["values"]);
    if ((op === "In" || op === "NotIn") && values.length === 0) {
      sink.error("L7P_ERR_POLICY_SEMANTIC", [...p, "values"], `values must be non-empty when operator is ${op}`);
    }
    if ((op === "Exists" || op === "DoesNotExist") && values.length > 0) {
      sink.error("L7P_ERR_POLICY_SEMANTIC", [...p, "values"], `values must be empty when operator is ${op}`);
    }
  });
}

/** A Kubernetes label key: optional DNS-subdomain prefix and "/", then a name of at most 63 chars. */
function isQualifiedName(key: string): boolean {
  const slash = key.indexOf("/");
  const name = slash < 0 ? key : key.slice(slash + 1);
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}
