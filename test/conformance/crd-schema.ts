// Loads the Cilium CRDs' openAPIV3Schema as plain JSON Schema for ajv. Kubernetes-only
// keywords (x-kubernetes-*) carry no validation ajv could apply here (list/map types, int-or-
// string is already spelled out with anyOf), so they are stripped; formats follow what the
// API server checks: `cidr` (Go net.ParseCIDR) is enforced, `idn-hostname` is not (the API
// server does not know it, so it accepts any string).

import { readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import path from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import * as formatsModule from "ajv-formats";
import { parse } from "yaml";
import { CONFORMANCE_DIR } from "./shared-dir.js";

export type JsonSchema = { [key: string]: unknown };

export const CRD_DIR = path.join(CONFORMANCE_DIR, "cilium-crds-v1.19-dev");

export function readCrdSchema(file: "ciliumnetworkpolicies.yaml" | "ciliumclusterwidenetworkpolicies.yaml"): JsonSchema {
  const crd = parse(readFileSync(path.join(CRD_DIR, file), "utf8")) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: JsonSchema } }[] };
  };
  const v2 = crd.spec.versions.find((v) => v.name === "v2");
  if (v2 === undefined) throw new Error(`${file}: no v2 version`);
  return stripKubernetesKeywords(v2.schema.openAPIV3Schema) as JsonSchema;
}

function stripKubernetesKeywords(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripKubernetesKeywords);
  if (typeof node !== "object" || node === null) return node;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith("x-kubernetes-")) continue;
    // Go's one-letter Unicode class \PC is spelled \P{C} in JavaScript.
    out[k] = k === "pattern" && typeof v === "string" ? v.replace(/\\([pP])([A-Z])(?![{A-Za-z])/g, "\\$1{$2}") : stripKubernetesKeywords(v);
  }
  return out;
}

/** Go's net.ParseCIDR: address, slash, decimal prefix length within the family's width. */
function goParseCidr(s: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (m === null) return false;
  const [, ip = "", bits = ""] = m;
  if (isIPv4(ip)) return Number(bits) <= 32;
  return isIPv6(ip) && !ip.includes("%") && Number(bits) <= 128;
}

export interface CrdOracle {
  /** Schema errors for a whole manifest, plus the CRD's CEL rule has(spec) || has(specs). */
  check(manifest: unknown): string[];
}

export function makeOracle(schema: JsonSchema): CrdOracle {
  const ajv = new Ajv({ allErrors: true, strict: false });
  // ajv-formats is CommonJS: under NodeNext its default export arrives as the module object.
  type AddFormats = (ajv: Ajv) => Ajv;
  const mod = formatsModule as unknown as { default: AddFormats | { default: AddFormats } };
  const addFormats: AddFormats = typeof mod.default === "function" ? mod.default : mod.default.default;
  addFormats(ajv);
  ajv.addFormat("cidr", { type: "string", validate: goParseCidr });
  ajv.addFormat("idn-hostname", { type: "string", validate: () => true });
  const validate: ValidateFunction = ajv.compile(schema);
  return {
    check(manifest) {
      const errors = validate(manifest) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ""}`);
      const m = manifest as Record<string, unknown>;
      if (typeof m === "object" && m !== null && !("spec" in m) && !("specs" in m)) errors.push("CEL: has(self.spec) || has(self.specs)");
      return errors;
    },
  };
}
