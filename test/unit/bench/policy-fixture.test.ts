import { describe, expect, test } from "vitest";
import { ALLOWED_PREFIX, DENIED_PREFIX, endpointsYaml, httpRules, policyYaml } from "../../../bench/load/policy-fixture.js";
import { compilePolicies } from "../../../src/policy/compile/index.js";
import { parseEndpointsText } from "../../../src/policy/endpoints/load-endpoints.js";
import { parsePolicyText } from "../../../src/policy/load/index.js";

describe("benchmark policy", () => {
  test.each([1, 100, 10_000])("%i rule(s) load without diagnostics and have that many HTTP rules", (n) => {
    const r = parsePolicyText(policyYaml(n), "bench.yaml");
    expect(r.diagnostics).toEqual([]);
    expect(httpRules(n)).toHaveLength(n);
  });

  test("the engine allows the allowed prefix from the client and denies the denied one", () => {
    const r = parsePolicyText(policyYaml(100), "bench.yaml");
    const { snapshot } = compilePolicies(r.policies, parseEndpointsText(endpointsYaml("10.77.0.2", "10.77.0.3"), "e.yaml"));
    const q = { srcIp: "10.77.0.2", dstIp: "10.77.0.3", dstPort: 80, protocol: "TCP" as const };
    const flow = snapshot.decideFlow(q);
    expect(flow).toMatchObject({ allowed: true, l7: "http" });
    const decide = (path: string) => snapshot.decideHttp(flow, q, { method: "GET", path, host: "x", header: () => undefined }).allowed;
    expect(decide(`${ALLOWED_PREFIX}b1k`)).toBe(true);
    expect(decide(`${DENIED_PREFIX}b1k`)).toBe(false);
    expect(snapshot.decideFlow({ ...q, srcIp: "10.77.0.9" }).allowed).toBe(false);
  });

  test("rule count 0: the client is allowed on the port with no L7 rules (a byte relay)", () => {
    const r = parsePolicyText(policyYaml(0), "bench.yaml");
    expect(r.diagnostics).toEqual([]);
    const { snapshot } = compilePolicies(r.policies, parseEndpointsText(endpointsYaml("10.77.0.2", "10.77.0.3"), "e.yaml"));
    const flow = snapshot.decideFlow({ srcIp: "10.77.0.2", dstIp: "10.77.0.3", dstPort: 80, protocol: "TCP" });
    expect(flow).toMatchObject({ allowed: true, l7: null });
  });

  test("rejects a rule count below one", () => {
    expect(() => httpRules(0)).toThrow(/positive integer/);
  });
});
