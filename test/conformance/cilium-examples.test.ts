// Every CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and NetworkPolicy that Cilium ships
// as an example must load without error. Go/Helm templates are rendered with plausible values
// first (test/conformance/go-template.ts).

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { formatDiagnostic, parsePolicyText } from "../../src/policy/load/index.js";
import { renderGoTemplate } from "./go-template.js";
import { CONFORMANCE_DIR, skipWithoutShared } from "./shared-dir.js";

const skip = skipWithoutShared("cilium example policies");

const POLICY_KINDS = new Set(["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "NetworkPolicy"]);

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const p = path.join(dir, entry);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else if (/\.(ya?ml|json)$/.test(entry)) out.push(p);
  }
  return out;
}

/** Policy documents in a text, counted with the yaml library directly rather than our loader. */
function countPolicies(text: string): number {
  let n = 0;
  for (const doc of parseAllDocuments(text)) {
    const v = doc.toJS() as { kind?: string; apiVersion?: string; items?: { kind?: string }[] } | null;
    const items = v?.kind?.endsWith("List") === true ? (v.items ?? []) : [v];
    n += items.filter((i) => i !== null && typeof i === "object" && POLICY_KINDS.has(i.kind ?? "")).length;
  }
  return n;
}

function expectLoads(file: string, text: string): void {
  const result = parsePolicyText(text, path.relative(CONFORMANCE_DIR, file));
  const errors = result.diagnostics.filter((d) => d.severity === "error").map(formatDiagnostic);
  expect(errors).toEqual([]);
  const expected = countPolicies(text);
  expect(expected).toBeGreaterThan(0);
  expect(result.policies).toHaveLength(expected);
}

describe.skipIf(skip)("Cilium example policies load without error", () => {
  const roots = skip
    ? []
    : [path.join(CONFORMANCE_DIR, "cilium-examples", "examples"), path.join(CONFORMANCE_DIR, "cilium-examples-kafka-v1.19-dev", "examples")];
  const files = roots.flatMap(listFiles);

  it("finds the example files", () => {
    // 84 example files from Cilium main plus the 4 Kafka examples from 1.19.
    expect(files.length).toBe(88);
  });

  for (const file of files) {
    it(path.relative(CONFORMANCE_DIR, file), () => expectLoads(file, readFileSync(file, "utf8")));
  }
});

describe.skipIf(skip)("Cilium connectivity-test and test/k8s templates load after rendering", () => {
  const roots = skip
    ? []
    : [path.join(CONFORMANCE_DIR, "cilium-examples", "cilium-cli"), path.join(CONFORMANCE_DIR, "cilium-examples", "test")];
  const files = roots.flatMap(listFiles);

  it("finds the template files", () => {
    expect(files.length).toBe(107 + 38);
  });

  for (const file of files) {
    it(path.relative(CONFORMANCE_DIR, file), () => {
      const text = readFileSync(file, "utf8");
      // test/k8s manifests also carry a shell placeholder that Cilium's test harness seds in.
      const rendered = renderGoTemplate(text).replaceAll("NODE_WITHOUT_CILIUM_IP", "192.168.1.5");
      expect(rendered).not.toContain("{{");
      expectLoads(file, rendered);
    });
  }
});
