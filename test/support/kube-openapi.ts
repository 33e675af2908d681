// Helpers for checking Kubernetes manifests and CRD schemas in tests.
// - toJsonSchema: an apiextensions openAPIV3Schema as a JSON Schema ajv can run (the
//   Kubernetes extensions dropped or mapped to their JSON Schema meaning).
// - unknownFields: the fields of an object that the Kubernetes API types do not define,
//   using @kubernetes/client-node's generated models (built from the Kubernetes OpenAPI
//   spec) as the source of field names. kubernetes-models' validators check types and
//   required fields but accept unknown fields, which is how a typo such as `tolerations`
//   misspelt would slip through.

import * as k8s from "@kubernetes/client-node";

export function toJsonSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toJsonSchema);
  if (typeof s !== "object" || s === null) return s;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(s)) {
    if (key === "x-kubernetes-int-or-string") continue;
    if (key.startsWith("x-kubernetes-")) continue;
    if (key === "pattern" && typeof v === "string") {
      // Kubernetes evaluates patterns with Go's RE2, which accepts \PC for \P{C}; JavaScript needs the braces.
      out[key] = v.replace(/\\([pP])([A-Z])(?![a-z{])/g, "\\$1{$2}");
      continue;
    }
    if (key === "properties" || key === "patternProperties" || key === "definitions") {
      out[key] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([n, x]) => [n, toJsonSchema(x)]));
    } else {
      out[key] = toJsonSchema(v);
    }
  }
  if ((s as Record<string, unknown>)["x-kubernetes-int-or-string"] === true) {
    return { ...out, anyOf: [{ type: "integer" }, { type: "string" }] };
  }
  return out;
}

interface AttributeInfo {
  baseName: string;
  type: string;
}

function attributesOf(typeName: string): AttributeInfo[] | undefined {
  const cls = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeInfo[] }>)[typeName];
  return cls?.getAttributeTypeMap?.();
}

/** Paths of fields in `obj` that the Kubernetes type `typeName` (e.g. "V1DaemonSet") does not have. */
export function unknownFields(obj: unknown, typeName: string, at = ""): string[] {
  const arrayOf = /^Array<(.+)>$/.exec(typeName);
  if (arrayOf) {
    return Array.isArray(obj) ? obj.flatMap((x, i) => unknownFields(x, arrayOf[1]!, `${at}[${i}]`)) : [];
  }
  const mapOf = /^\{ \[key: string\]: (.+); \}$/.exec(typeName);
  if (mapOf) {
    return typeof obj === "object" && obj !== null ? Object.entries(obj).flatMap(([key, x]) => unknownFields(x, mapOf[1]!, `${at}.${key}`)) : [];
  }
  const attrs = attributesOf(typeName);
  if (attrs === undefined || typeof obj !== "object" || obj === null) return [];
  const byName = new Map(attrs.map((a) => [a.baseName, a.type]));
  const out: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    const t = byName.get(key);
    if (t === undefined) out.push(`${at}.${key}`);
    else out.push(...unknownFields(value, t, `${at}.${key}`));
  }
  return out;
}
