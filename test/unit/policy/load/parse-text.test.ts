import { describe, expect, it } from "vitest";
import { formatDiagnostic, parsePolicyText } from "../../../../src/policy/load/index.js";
import { positionOf } from "../validate/diagnose.js";

const CNP_A = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: a
spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress: [{}]
specs:
- endpointSelector: {matchLabels: {app: b}}
  egress: [{}]
`;

describe("parsePolicyText", () => {
  it("loads every policy of a multi-document file and skips other kinds with a note", () => {
    const text = `${CNP_A}---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
spec: {podSelector: {}}
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cw}
spec: {endpointSelector: {}, egress: [{toEntities: [world]}]}
`;
    const r = parsePolicyText(text, "f.yaml");
    expect(r.policies.map((p) => [p.kind, p.namespace, p.name])).toEqual([
      ["CiliumNetworkPolicy", "default", "a"],
      ["NetworkPolicy", "default", "np"],
      ["CiliumClusterwideNetworkPolicy", "", "cw"],
    ]);
    expect(r.files).toEqual([
      { file: "f.yaml", policies: 3, kinds: { CiliumNetworkPolicy: 1, NetworkPolicy: 1, CiliumClusterwideNetworkPolicy: 1 }, skipped: { Deployment: 1 } },
    ]);
    const note = r.diagnostics.find((d) => d.code === "L7P_NOTE_SKIPPED_KIND");
    expect(note).toMatchObject({ severity: "note", fieldPath: "kind", ...positionOf(text, "Deployment") });
    expect(r.diagnostics.filter((d) => d.severity !== "note")).toEqual([]);
  });

  it("orders rules spec first, then specs, and keeps source positions", () => {
    const [p] = parsePolicyText(CNP_A, "f.yaml").policies;
    if (p?.kind !== "CiliumNetworkPolicy") throw new Error("expected a CNP");
    expect(p.rules.map((r) => r.endpointSelector?.matchLabels?.["app"])).toEqual(["a", "b"]);
    expect(p.source).toEqual({ file: "f.yaml", line: 1, col: 1 });
    expect(p.locate?.("specs[0].egress")).toEqual({ file: "f.yaml", ...positionOf(CNP_A, "[{}]", 1) });
    expect(p.locate?.("spec.endpointSelector.matchLabels.app")).toEqual({ file: "f.yaml", ...positionOf(CNP_A, "a}}") });
  });

  it("loads kind: List items one by one, with items[i] in field paths", () => {
    const text = `apiVersion: v1
kind: List
items:
- apiVersion: cilium.io/v2
  kind: CiliumNetworkPolicy
  metadata: {name: good, namespace: prod}
  spec: {endpointSelector: {}, ingress: [{}]}
- apiVersion: cilium.io/v2
  kind: CiliumNetworkPolicy
  metadata: {name: bad}
  spec: {endpointSelector: {}, ingress: [{fromEntites: [world]}]}
`;
    const r = parsePolicyText(text, "list.yaml");
    expect(r.policies.map((p) => `${p.namespace}/${p.name}`)).toEqual(["prod/good"]);
    const [err] = r.diagnostics;
    expect(err).toMatchObject({ fieldPath: "items[1].spec.ingress[0].fromEntites", ...positionOf(text, "fromEntites") });
    expect(r.policies[0]?.locate?.("spec.ingress")).toEqual({ file: "list.yaml", ...positionOf(text, "[{}]") });
  });

  it("loads JSON", () => {
    const text = JSON.stringify(
      { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "j", namespace: "x" }, spec: { podSelector: {}, policyTypes: ["Ingress"] } },
      null,
      2,
    );
    const r = parsePolicyText(text, "p.json");
    expect(r.diagnostics).toEqual([]);
    expect(r.policies.map((p) => `${p.namespace}/${p.name}`)).toEqual(["x/j"]);
  });

  it("reports a YAML syntax error with its position and still loads the other documents", () => {
    const text = `${CNP_A}---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: broken
spec: {}
`;
    const r = parsePolicyText(text, "f.yaml");
    expect(r.policies.map((p) => p.name)).toEqual(["a"]);
    const err = r.diagnostics.find((d) => d.code === "L7P_ERR_YAML_SYNTAX");
    expect(err?.severity).toBe("error");
    expect(err?.line).toBeGreaterThanOrEqual(positionOf(text, "metadata: {name: broken").line);
    expect(formatDiagnostic(err!)).toMatch(/^f\.yaml:\d+:\d+: \S/);
  });

  it("rejects duplicate keys, which would otherwise hide one of the values", () => {
    const text = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a}
spec:
  endpointSelector: {}
  ingress: [{}]
  ingress: [{fromEntities: [world]}]
`;
    const r = parsePolicyText(text, "f.yaml");
    expect(r.policies).toEqual([]);
    expect(r.diagnostics[0]).toMatchObject({ code: "L7P_ERR_YAML_SYNTAX", line: 7 });
  });

  it("bounds alias expansion", () => {
    const text = `a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
`;
    const r = parsePolicyText(text, "bomb.yaml");
    expect(r.diagnostics[0]?.code).toBe("L7P_ERR_YAML_SYNTAX");
  });

  it("ignores metadata.namespace on a cluster-wide policy with a warning", () => {
    const text = `apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cw, namespace: kube-system}
spec: {endpointSelector: {}, ingress: [{}]}
`;
    const r = parsePolicyText(text, "f.yaml");
    expect(r.policies[0]?.namespace).toBe("");
    expect(r.diagnostics).toMatchObject([{ severity: "warning", code: "L7P_WARN_POLICY_IGNORED_FIELD", fieldPath: "metadata.namespace", ...positionOf(text, "namespace") }]);
  });

  it("rejects a wrong apiVersion and a near-miss kind instead of skipping them", () => {
    const text = `apiVersion: cilium.io/v1
kind: CiliumNetworkPolicy
metadata: {name: a}
spec: {endpointSelector: {}, ingress: [{}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolcy
metadata: {name: b}
`;
    const r = parsePolicyText(text, "f.yaml");
    expect(r.policies).toEqual([]);
    expect(r.diagnostics.map((d) => [d.severity, d.fieldPath, d.message])).toEqual([
      ["error", "apiVersion", 'apiVersion must be cilium.io/v2 for CiliumNetworkPolicy, not "cilium.io/v1"'],
      ["error", "kind", 'unknown kind "CiliumNetworkPolcy" (did you mean "CiliumNetworkPolicy"?)'],
    ]);
  });

  it("skips empty documents and comment-only files", () => {
    expect(parsePolicyText("# nothing\n---\n---\n", "e.yaml")).toEqual({ policies: [], diagnostics: [], files: [{ file: "e.yaml", policies: 0, kinds: {}, skipped: {} }] });
  });
});

describe("formatDiagnostic", () => {
  it("formats errors, warnings and position-less diagnostics", () => {
    const base = { code: "L7P_ERR_POLICY_REGEX", file: "policies/rule1.yaml", line: 17, col: 19, fieldPath: "spec.ingress[0].toPorts[0].rules.http[0].path" } as const;
    expect(formatDiagnostic({ ...base, severity: "error", message: "invalid RE2 regex: missing )" })).toBe(
      "policies/rule1.yaml:17:19: spec.ingress[0].toPorts[0].rules.http[0].path: invalid RE2 regex: missing )",
    );
    expect(formatDiagnostic({ ...base, severity: "warning", message: "x" })).toBe("policies/rule1.yaml:17:19: spec.ingress[0].toPorts[0].rules.http[0].path: warning: x");
    expect(formatDiagnostic({ ...base, line: 0, col: 0, fieldPath: "", severity: "error", message: "gone" })).toBe("policies/rule1.yaml: gone");
  });
});
