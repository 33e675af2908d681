// headerMatches that name a Kubernetes Secret, through compilePolicies: the `secrets` option
// (KubernetesState.secrets), the policy's namespace as the default, the inline fallback, fail
// closed without either, and warnings that name the Secret but never print its value.

import { describe, expect, it } from "vitest";
import { compilePolicies } from "../../../../src/policy/compile/index.js";
import { flow, httpRequest, inventoryFromYaml, policiesFromYaml } from "../../../support/policy-fixtures.js";

const endpoints = inventoryFromYaml(`
endpoints:
  - {name: server, namespace: shop, labels: {app: server}, ips: [10.8.0.2]}
  - {name: client, namespace: shop, labels: {app: client}, ips: [10.8.0.3]}
`);
const SERVER = "10.8.0.2";
const CLIENT = "10.8.0.3";
const VALUE = "v3ry-s3cret-t0ken";

type Match = Record<string, unknown>;
const cnp = (match: Match, ns = "shop") =>
  `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: tok, namespace: ${ns}}\nspec:\n` +
  `  endpointSelector: {matchLabels: {app: server}}\n` +
  `  ingress:\n  - toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{path: "/api", headerMatches: [${JSON.stringify(match)}]}]}}]\n`;
const ccnp = (match: Match) =>
  `apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: tok}\nspec:\n` +
  `  endpointSelector: {matchLabels: {app: server}}\n` +
  `  ingress:\n  - toPorts: [{ports: [{port: "80", protocol: TCP}], rules: {http: [{path: "/api", headerMatches: [${JSON.stringify(match)}]}]}}]\n`;

function compile(yaml: string, secrets?: Record<string, string>) {
  return compilePolicies(policiesFromYaml(yaml), endpoints, secrets === undefined ? {} : { secrets: new Map(Object.entries(secrets)) });
}

function request(result: ReturnType<typeof compile>, headers: Record<string, string>) {
  const q = flow(CLIENT, SERVER, 80);
  return result.snapshot.decideHttp(result.snapshot.decideFlow(q), q, httpRequest("GET", "/api", headers));
}

describe("secret-backed headerMatches in compilePolicies", () => {
  it("reads the Secret in the policy's namespace when the reference names none", () => {
    const c = compile(cnp({ name: "X-Token", secret: { name: "api-token" } }), { "shop/api-token": VALUE, "other/api-token": "wrong-ns" });
    expect(c.warnings).toEqual([]);
    expect(request(c, { "x-token": VALUE }).allowed).toBe(true);
    expect(request(c, { "x-token": "wrong-ns" }).allowed).toBe(false);
    expect(request(c, { "x-token": `${VALUE}x` }).allowed).toBe(false);
    expect(request(c, {}).allowed).toBe(false);
  });

  it("reads the namespace the reference names, also from a cluster-wide policy", () => {
    const secrets = { "vault/api-token": VALUE, "shop/api-token": "shop-value" };
    const c = compile(cnp({ name: "X-Token", secret: { namespace: "vault", name: "api-token" } }), secrets);
    expect(request(c, { "x-token": VALUE }).allowed).toBe(true);
    expect(request(c, { "x-token": "shop-value" }).allowed).toBe(false);
    const cw = compile(ccnp({ name: "X-Token", secret: { namespace: "vault", name: "api-token" } }), secrets);
    expect(cw.warnings).toEqual([]);
    expect(request(cw, { "x-token": VALUE }).allowed).toBe(true);
  });

  it("a cluster-wide policy's reference without a namespace resolves to nothing, and says why", () => {
    const c = compile(ccnp({ name: "X-Token", secret: { name: "api-token" } }), { "/api-token": VALUE, "default/api-token": VALUE });
    expect(request(c, { "x-token": VALUE }).allowed).toBe(false);
    expect(c.warnings.join("\n")).toContain("secret api-token has no namespace, which a cluster-wide policy must give; this rule never matches (fail closed)");
  });

  it("uses the Secret rather than the inline value when both exist", () => {
    const c = compile(cnp({ name: "X-Token", value: "inline", secret: { name: "api-token" } }), { "shop/api-token": VALUE });
    expect(request(c, { "x-token": VALUE }).allowed).toBe(true);
    expect(request(c, { "x-token": "inline" }).allowed).toBe(false);
  });

  it("falls back to the inline value when the Secret is not available, with a warning naming it", () => {
    const c = compile(cnp({ name: "X-Token", value: "inline", secret: { name: "api-token" } }), {});
    expect(request(c, { "x-token": "inline" }).allowed).toBe(true);
    expect(c.warnings).toEqual([
      "shop/tok rule 0: ingress[0].toPorts[0].rules.http[0].headerMatches[0]: secret shop/api-token is not available " +
        "(missing, unreadable, empty, or not exactly one item); the inline value is used instead",
    ]);
  });

  it("fails closed without the Secret and without an inline value, for every mismatch action", () => {
    for (const mismatch of [undefined, "LOG", "ADD", "DELETE", "REPLACE"]) {
      const c = compile(cnp({ name: "X-Token", secret: { name: "api-token" }, ...(mismatch === undefined ? {} : { mismatch }) }), { "shop/other": VALUE });
      expect(request(c, { "x-token": VALUE }).allowed, mismatch ?? "FAIL").toBe(false);
      expect(request(c, {}).allowed, mismatch ?? "FAIL").toBe(false);
      expect(c.warnings.join("\n")).toContain("secret shop/api-token is not available");
      expect(c.warnings.join("\n")).toContain("this rule never matches (fail closed)");
    }
  });

  it("without a secrets map (files), says that only run --kubernetes reads Secrets", () => {
    const c = compile(cnp({ name: "X-Token", value: "inline", secret: { name: "api-token" } }));
    expect(request(c, { "x-token": "inline" }).allowed).toBe(true);
    expect(c.warnings.join("\n")).toContain("secret shop/api-token is not available: Secrets are read only by run --kubernetes (check takes --secret)");
    const none = compile(cnp({ name: "X-Token", secret: { name: "api-token" } }));
    expect(request(none, { "x-token": "" }).allowed).toBe(false);
    expect(request(none, { "x-token": "anything" }).allowed).toBe(false);
  });

  it("runs mismatch actions with the Secret's value, flagged so nothing prints it", () => {
    const c = compile(cnp({ name: "X-Token", secret: { name: "api-token" }, mismatch: "REPLACE" }), { "shop/api-token": VALUE });
    const wrong = request(c, { "x-token": "wrong" });
    expect(wrong.allowed).toBe(true);
    expect(wrong.headerOps).toEqual([{ op: "replace", name: "X-Token", value: VALUE, secret: true }]);
    expect(wrong.logs.join("\n")).not.toContain(VALUE);
    expect(request(c, { "x-token": VALUE }).headerOps).toEqual([]);
  });

  it("never puts a Secret's value into warnings", () => {
    const c = compile(
      cnp({ name: "X-Token", secret: { name: "api-token" } }) + "---\n" + cnp({ name: "X-Other", value: "inline", secret: { name: "gone" } }).replace("name: tok", "name: tok2"),
      { "shop/api-token": VALUE },
    );
    expect(c.warnings.length).toBeGreaterThan(0);
    expect(c.warnings.join("\n")).not.toContain(VALUE);
  });
});
