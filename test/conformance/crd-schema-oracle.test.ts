// The CRD schema as an oracle: whatever Cilium's v1.19 CRD schema rejects, `validate` must
// reject too. Checked over Cilium's example policies and over systematically mutated copies.

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { policyFromObject } from "../../src/policy/load/index.js";
import { makeOracle, readCrdSchema, type CrdOracle } from "./crd-schema.js";
import { renderGoTemplate } from "./go-template.js";
import { mutations } from "./mutate.js";
import { CONFORMANCE_DIR, skipWithoutShared } from "./shared-dir.js";

const skip = skipWithoutShared("CRD schema oracle");

// Cilium manifests newer than the 1.19 schema: they use what Cilium 1.20 added, which l7proxy
// accepts. Each entry names the file and the exact schema complaint it is allowed to raise.
const NEWER_THAN_1_19: Record<string, RegExp> = {
  "examples/policies/host/allow-extended-protocols.yaml": /protocol must be equal to one of the allowed values/,
  "client-egress-tls-sni-random-wildcard.yaml": /serverNames\/\d+ must match pattern/,
  "client-egress-tls-sni-double-wildcard.yaml": /serverNames\/\d+ must match pattern/,
  "generate_dns_match_pattern/in.yaml": /serverNames\/\d+ must match pattern/,
  "generate_dns_match_pattern/out.yaml": /serverNames\/\d+ must match pattern/,
  "generate_dns_match_pattern/out-default.yaml": /serverNames\/\d+ must match pattern/,
  "client-egress-tls-sni-other.yaml": /serverNames\/\d+ must match pattern/,
};

interface Sample {
  file: string;
  manifest: Record<string, unknown>;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((e) => {
      const p = path.join(dir, e);
      return statSync(p).isDirectory() ? listFiles(p) : /\.(ya?ml|json)$/.test(e) ? [p] : [];
    });
}

function ciliumSamples(): Sample[] {
  const dirs = ["cilium-examples/examples", "cilium-examples-kafka-v1.19-dev/examples", "cilium-examples/cilium-cli", "cilium-examples/test"];
  const out: Sample[] = [];
  for (const file of dirs.flatMap((d) => listFiles(path.join(CONFORMANCE_DIR, d)))) {
    const text = renderGoTemplate(readFileSync(file, "utf8")).replaceAll("NODE_WITHOUT_CILIUM_IP", "192.168.1.5");
    for (const doc of parseAllDocuments(text)) {
      const v = doc.toJS() as Record<string, unknown> | null;
      const items = (v?.["kind"] as string | undefined)?.endsWith("List") === true ? (v?.["items"] as Record<string, unknown>[]) : [v];
      for (const m of items) {
        if (m !== null && (m["kind"] === "CiliumNetworkPolicy" || m["kind"] === "CiliumClusterwideNetworkPolicy")) {
          out.push({ file: path.relative(CONFORMANCE_DIR, file), manifest: m });
        }
      }
    }
  }
  return out;
}

function accepted(manifest: unknown): boolean {
  const { policy, diagnostics } = policyFromObject(manifest, "oracle");
  return policy !== undefined && !diagnostics.some((d) => d.severity === "error");
}

describe.skipIf(skip)("CRD schema oracle", () => {
  const oracles: Record<string, CrdOracle> = skip
    ? {}
    : {
        CiliumNetworkPolicy: makeOracle(readCrdSchema("ciliumnetworkpolicies.yaml")),
        CiliumClusterwideNetworkPolicy: makeOracle(readCrdSchema("ciliumclusterwidenetworkpolicies.yaml")),
      };
  const samples = skip ? [] : ciliumSamples();
  const oracleFor = (m: Record<string, unknown>): CrdOracle => oracles[m["kind"] as string] as CrdOracle;
  const schemaErrors = (s: Sample, manifest: Record<string, unknown>): string[] => {
    const allowed = Object.entries(NEWER_THAN_1_19).find(([f]) => s.file.endsWith(f))?.[1];
    return oracleFor(manifest).check(manifest).filter((e) => allowed === undefined || !allowed.test(e));
  };

  it("the schema accepts Cilium's own examples, except for fields newer than 1.19", () => {
    expect(samples.length).toBeGreaterThan(150);
    const unexpected: string[] = [];
    for (const s of samples) {
      const left = schemaErrors(s, s.manifest);
      if (left.length > 0) unexpected.push(`${s.file}: ${left.join("; ")}`);
    }
    expect(unexpected).toEqual([]);
    expect(samples.filter((s) => !accepted(s.manifest)).map((s) => s.file)).toEqual([]);
  });

  it("the oracle itself rejects a plainly wrong policy (it is not vacuous)", () => {
    const bad = { apiVersion: "cilium.io/v2", kind: "CiliumNetworkPolicy", metadata: { name: "x" }, spec: { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: "80", protocol: "tcp" }] }] }] } };
    expect(oracleFor(bad).check(bad).join()).toMatch(/protocol must be equal to one of the allowed values/);
    expect(accepted(bad)).toBe(false);
  });

  it("whatever the schema rejects in mutated examples, validate rejects too", () => {
    let schemaRejected = 0;
    let unknownFieldChecks = 0;
    const missed: string[] = [];
    for (const s of samples) {
      for (const m of mutations(s.manifest)) {
        const errors = schemaErrors(s, m.manifest);
        const ours = accepted(m.manifest);
        // Inside the obsolete `auth` block, which Kubernetes drops whole, nothing is checked.
        if (m.description.includes(".auth")) continue;
        if (m.unknownField) {
          // The schema lets unknown fields through (Kubernetes prunes them); we must not.
          unknownFieldChecks++;
          if (ours) missed.push(`${s.file} ${m.description}: unknown field accepted`);
          continue;
        }
        if (errors.length === 0) continue;
        schemaRejected++;
        if (ours) missed.push(`${s.file} ${m.description}: schema says ${errors[0]}`);
      }
    }
    process.stdout.write(`CRD oracle: ${schemaRejected} schema-rejected mutations and ${unknownFieldChecks} unknown-field mutations checked over ${samples.length} policies\n`);
    expect(missed.slice(0, 20)).toEqual([]);
    expect(schemaRejected).toBeGreaterThan(5000);
  });
});
