import { describe, expect, it } from "vitest";
import { secretRefsOf, secretValue } from "../../../../src/control/kubernetes/secret-refs.js";
import type { LoadedPolicy } from "../../../../src/policy/api/types.js";

const src = { file: "t", line: 1, col: 1 };

function withHeaderSecrets(kind: "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy", namespace: string, secrets: { namespace?: string; name: string }[]): LoadedPolicy {
  return {
    kind,
    name: "p",
    namespace,
    source: src,
    rules: [
      {
        egress: [{ toPorts: [{ ports: [{ port: "80" }], rules: { http: [{ headerMatches: secrets.map((secret, i) => ({ name: `h${i}`, secret })) }] } }] }],
        ingress: [{ toPorts: [{ rules: { http: [{ headerMatches: [{ name: "inline", value: "v" }] }] } }] }],
      },
    ],
  };
}

describe("secretRefsOf", () => {
  it("defaults a secret's namespace to the policy's and keeps an explicit one", () => {
    const { refs, problems } = secretRefsOf([withHeaderSecrets("CiliumNetworkPolicy", "shop", [{ name: "a" }, { namespace: "vault", name: "b" }])]);
    expect([...refs].sort()).toEqual(["shop/a", "vault/b"]);
    expect(problems).toEqual([]);
  });

  it("reports a cluster-wide policy's secret without a namespace, naming the field", () => {
    const { refs, problems } = secretRefsOf([withHeaderSecrets("CiliumClusterwideNetworkPolicy", "", [{ name: "a" }, { namespace: "ops", name: "c" }])]);
    expect([...refs]).toEqual(["ops/c"]);
    expect(problems).toEqual([
      "CiliumClusterwideNetworkPolicy p: rules[0].egress[0].toPorts[0].rules.http[0].headerMatches[0].secret needs a namespace in a cluster-wide policy",
    ]);
  });

  it("finds nothing in NetworkPolicies or inline header values", () => {
    const np: LoadedPolicy = { kind: "NetworkPolicy", name: "n", namespace: "x", source: src, spec: { podSelector: {} } };
    expect(secretRefsOf([np, withHeaderSecrets("CiliumNetworkPolicy", "x", [])]).refs.size).toBe(0);
  });
});

describe("secretValue", () => {
  it("decodes the single entry of a Secret", () => {
    expect(secretValue({ data: { token: Buffer.from("s3cret").toString("base64") } })).toEqual({ value: "s3cret" });
  });

  it("refuses Secrets with zero or several entries, as Cilium does", () => {
    expect(secretValue({ data: {} })).toEqual({ error: "must have exactly one item, has 0" });
    expect(secretValue({})).toEqual({ error: "must have exactly one item, has 0" });
    expect(secretValue({ data: { a: "MQ==", b: "Mg==" } })).toEqual({ error: "must have exactly one item, has 2" });
  });
});
