// The validator's field tree (src/policy/validate/cilium-shape.ts) must be exactly the CRD's:
// every field the CRD defines is known (so valid policies load), and no field the CRD lacks is
// accepted (so typos are caught). Enums and size limits must match too.

import { describe, expect, it } from "vitest";
import { ciliumPolicyShape, type Shape } from "../../src/policy/validate/index.js";
import { readCrdSchema, type JsonSchema } from "./crd-schema.js";
import { skipWithoutShared } from "./shared-dir.js";

const skip = skipWithoutShared("CRD field set");

// Enum values l7proxy accepts beyond the 1.19 CRD because Cilium 1.20 added them.
const ENUM_ADDITIONS: Record<string, string[]> = { protocol: ["GRE", "IPIP", "IPV6", "ESP", "AH"] };

function crdPaths(node: JsonSchema, path: string, out: Map<string, string>): void {
  const enumValues = Array.isArray(node["enum"]) ? [...(node["enum"] as string[])].sort() : undefined;
  const facts = [node["type"], enumValues, node["maxItems"], node["maxLength"], node["minimum"], node["maximum"]];
  out.set(path, JSON.stringify(facts));
  const props = node["properties"] as Record<string, JsonSchema> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) crdPaths(v, `${path}.${k}`, out);
  const items = node["items"] as JsonSchema | undefined;
  if (items !== undefined) crdPaths(items, `${path}[]`, out);
  const extra = node["additionalProperties"];
  if (typeof extra === "object" && extra !== null) crdPaths(extra as JsonSchema, `${path}{}`, out);
}

function shapePaths(shape: Shape, path: string, out: Map<string, string>): void {
  const key = path.split(/[.[{]/).pop() ?? "";
  switch (shape.kind) {
    case "object":
      out.set(path, JSON.stringify(["object", undefined, undefined, undefined, undefined, undefined]));
      for (const [k, v] of Object.entries(shape.fields)) shapePaths(v, `${path}.${k}`, out);
      return;
    case "map":
      out.set(path, JSON.stringify(["object", undefined, undefined, undefined, undefined, undefined]));
      shapePaths(shape.values, `${path}{}`, out);
      return;
    case "array":
      // Deny port lists get Cilium's 40-port limit too (the CRD only states it for allow rules).
      out.set(path, JSON.stringify(["array", undefined, /Deny\[\]\.toPorts\[\]\.ports$/.test(path) ? undefined : shape.maxItems, undefined, undefined, undefined]));
      shapePaths(shape.items, `${path}[]`, out);
      return;
    case "string": {
      const extra = ENUM_ADDITIONS[key] ?? [];
      const enumValues = shape.enum?.filter((v) => !extra.includes(v)).sort();
      out.set(path, JSON.stringify(["string", enumValues, undefined, shape.maxLength, undefined, undefined]));
      return;
    }
    case "integer":
      out.set(path, JSON.stringify(["integer", undefined, undefined, undefined, shape.min, shape.max]));
      return;
    case "boolean":
      out.set(path, JSON.stringify(["boolean", undefined, undefined, undefined, undefined, undefined]));
      return;
    case "int-or-string":
    case "any":
      out.set(path, JSON.stringify([undefined, undefined, undefined, undefined, undefined, undefined]));
  }
}

describe.skipIf(skip)("validator field set equals the CRD's", () => {
  for (const file of ["ciliumnetworkpolicies.yaml", "ciliumclusterwidenetworkpolicies.yaml"] as const) {
    it(file, () => {
      const crd = new Map<string, string>();
      const schema = readCrdSchema(file);
      const props = schema["properties"] as Record<string, JsonSchema>;
      crdPaths(props["spec"] as JsonSchema, "spec", crd);
      crdPaths(props["specs"] as JsonSchema, "specs", crd);
      const ours = new Map<string, string>();
      shapePaths(ciliumPolicyShape.fields["spec"] as Shape, "spec", ours);
      shapePaths(ciliumPolicyShape.fields["specs"] as Shape, "specs", ours);

      expect([...crd.keys()].filter((p) => !ours.has(p))).toEqual([]);
      expect([...ours.keys()].filter((p) => !crd.has(p))).toEqual([]);
      // ICMP type is int-or-string in the CRD (anyOf), which carries no plain type.
      const differing = [...crd.entries()]
        .filter(([p]) => !p.endsWith(".type") || !p.includes("icmps"))
        .filter(([p, facts]) => ours.get(p) !== facts)
        .map(([p, facts]) => `${p}: CRD ${facts} vs ours ${ours.get(p)}`);
      expect(differing).toEqual([]);
      expect(crd.size).toBeGreaterThan(400);
    });
  }
});
