// The generated cilium.io/v2 CRDs: in step with the code, valid CRDs, structural, and
// compatible with Cilium's own (same field names; every Cilium example that Cilium's schema
// accepts is accepted by ours).

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { parse, parseAllDocuments } from "yaml";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1";
import { describe, expect, it } from "vitest";
import { policyCrd, ruleSchema, type CiliumPolicyKind } from "../../../../src/control/kubernetes/crd-schema.js";
import { CRD_FILES, renderCrd } from "../../../../src/control/kubernetes/generate-crds.js";
import { toJsonSchema, unknownFields } from "../../../support/kube-openapi.js";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");
const shared = path.resolve(repo, "../shared");
const crdDir = path.join(repo, "deploy/components/cilium-crds");
const kinds = Object.keys(CRD_FILES) as CiliumPolicyKind[];
const haveShared = existsSync(path.join(shared, "conformance"));
const needShared = haveShared || process.env.CI === "true";
if (!needShared) console.warn(`crd-schema.test: ${shared}/conformance is absent; skipping the comparisons with Cilium`);

describe("generated cilium.io/v2 CRDs", () => {
  it.each(kinds)("the committed %s CRD is what the generator writes (run generate-crds after changing the policy types)", (kind) => {
    expect(readFileSync(path.join(crdDir, CRD_FILES[kind]), "utf8")).toBe(renderCrd(kind));
  });

  it.each(kinds)("%s is a valid apiextensions.k8s.io/v1 CustomResourceDefinition", (kind) => {
    const crd = policyCrd(kind);
    expect(() => new CustomResourceDefinition(crd as never).validate()).not.toThrow();
    expect(unknownFields(crd, "V1CustomResourceDefinition")).toEqual([]);
  });

  it("is a structural schema: every node has a type, or is int-or-string or keeps unknown fields", () => {
    const problems: string[] = [];
    const visit = (s: Record<string, unknown>, at: string): void => {
      if (s.type === undefined && s["x-kubernetes-int-or-string"] !== true && s["x-kubernetes-preserve-unknown-fields"] !== true) problems.push(at);
      for (const [n, p] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)) visit(p, `${at}.${n}`);
      if (s.items) visit(s.items as Record<string, unknown>, `${at}[]`);
      if (typeof s.additionalProperties === "object") visit(s.additionalProperties as Record<string, unknown>, `${at}{}`);
    };
    visit(ruleSchema(), "spec");
    expect(problems).toEqual([]);
  });

  it("accepts a policy using HTTP, Kafka, DNS and headerMatches rules and rejects wrong types", () => {
    const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(toJsonSchema(ruleSchema()) as object);
    const good = {
      endpointSelector: { matchLabels: { app: "web" } },
      ingress: [
        {
          fromEndpoints: [{ matchExpressions: [{ key: "team", operator: "In", values: ["a"] }] }],
          toPorts: [
            { ports: [{ port: "80", protocol: "TCP" }], rules: { http: [{ method: "GET", path: "/v1/.*", headerMatches: [{ name: "x", secret: { name: "s" }, mismatch: "ADD" }] }] } },
            { ports: [{ port: "9092" }], rules: { kafka: [{ role: "produce", topic: "t" }] } },
          ],
        },
      ],
      egress: [{ toPorts: [{ ports: [{ port: "53", protocol: "ANY" }], rules: { dns: [{ matchPattern: "*.example.com" }] } }] }],
      icmps: undefined,
    };
    expect(validate(good), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ ingress: [{ toPorts: [{ ports: [{ port: 80 }] }] }] })).toBe(false);
    expect(validate({ endpointSelector: { matchExpressions: [{ key: "a", operator: "Maybe" }] } })).toBe(false);
    expect(validate({ ingress: [{ toPorts: [{ rules: { http: [{ headerMatches: [{ name: "x", mismatch: "IGNORE" }] }] } }] }] })).toBe(false);
  });
});

describe.skipIf(!needShared)("compatibility with Cilium's CRDs (shared/conformance)", () => {
  const ciliumCrd = (kind: CiliumPolicyKind) =>
    parse(readFileSync(path.join(shared, "conformance/cilium-crds-v1.19-dev", CRD_FILES[kind]), "utf8")) as {
      spec: { versions: { name: string; schema: { openAPIV3Schema: Record<string, unknown> } }[] };
    };
  const v2 = (kind: CiliumPolicyKind) => ciliumCrd(kind).spec.versions.find((v) => v.name === "v2")!.schema.openAPIV3Schema;

  it.each(kinds)("%s: the spec has exactly Cilium's field names at every level", (kind) => {
    const diffs: string[] = [];
    const compare = (ours: Record<string, unknown>, theirs: Record<string, unknown>, at: string): void => {
      // Opaque (preserve-unknown) objects are not modelled by l7proxy on purpose.
      if (ours["x-kubernetes-preserve-unknown-fields"] === true && ours.properties === undefined) return;
      const op = (ours.properties ?? {}) as Record<string, Record<string, unknown>>;
      const tp = (theirs.properties ?? {}) as Record<string, Record<string, unknown>>;
      for (const n of Object.keys(op)) if (!(n in tp)) diffs.push(`only ours: ${at}.${n}`);
      for (const n of Object.keys(tp)) if (!(n in op)) diffs.push(`only Cilium's: ${at}.${n}`);
      for (const n of Object.keys(op)) {
        if (!(n in tp)) continue;
        const o = op[n]!;
        const t = tp[n]!;
        if ((o.type ?? "int-or-string") !== (t.type ?? "int-or-string")) diffs.push(`type of ${at}.${n}: ${String(o.type)} vs ${String(t.type)}`);
        if (o.items && t.items) compare(o.items as Record<string, unknown>, t.items as Record<string, unknown>, `${at}.${n}[]`);
        else compare(o, t, `${at}.${n}`);
      }
    };
    const ours = policyCrd(kind) as { spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
    const oursSpec = (ours.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, Record<string, unknown>>).spec!;
    const theirsSpec = (v2(kind).properties as Record<string, Record<string, unknown>>).spec!;
    compare(oursSpec, theirsSpec, "spec");
    expect(diffs).toEqual([]);
  });

  it("every Cilium example policy that Cilium's schema accepts is accepted by ours", () => {
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validators = Object.fromEntries(
      kinds.map((k) => [
        k,
        {
          ours: ajv.compile(toJsonSchema((policyCrd(k) as { spec: { versions: { schema: { openAPIV3Schema: object } }[] } }).spec.versions[0]!.schema.openAPIV3Schema) as object),
          cilium: ajv.compile(toJsonSchema(v2(k)) as object),
        },
      ]),
    ) as Record<CiliumPolicyKind, { ours: ReturnType<Ajv["compile"]>; cilium: ReturnType<Ajv["compile"]> }>;

    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d)) {
        const p = path.join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(ya?ml|json)$/.test(e)) files.push(p);
      }
    };
    walk(path.join(shared, "conformance/cilium-examples"));
    walk(path.join(shared, "conformance/cilium-examples-kafka-v1.19-dev"));

    let checked = 0;
    let ciliumRejects = 0;
    const oursRejects: string[] = [];
    for (const f of files) {
      // cilium-cli manifests are Go templates; render every placeholder as a plain name.
      const text = readFileSync(f, "utf8").replace(/\{\{[^}]*\}\}/g, "placeholder");
      for (const doc of parseAllDocuments(text)) {
        if (doc.errors.length > 0) continue;
        const obj = doc.toJS() as { apiVersion?: string; kind?: string } | null;
        if (obj === null || typeof obj !== "object" || obj.apiVersion !== "cilium.io/v2") continue;
        if (obj.kind !== "CiliumNetworkPolicy" && obj.kind !== "CiliumClusterwideNetworkPolicy") continue;
        const v = validators[obj.kind];
        if (!v.cilium(obj)) {
          ciliumRejects++;
          continue;
        }
        checked++;
        if (!v.ours(obj)) oursRejects.push(`${path.relative(shared, f)}: ${ajv.errorsText(v.ours.errors)}`);
      }
    }
    console.log(`crd-schema.test: ${checked} Cilium example policies checked (${ciliumRejects} rejected by Cilium's own schema and skipped)`);
    expect(checked).toBeGreaterThan(100);
    expect(oursRejects).toEqual([]);
  });
});
