import { describe, expect, test } from "vitest";
import { L7ProxyError } from "../../../src/errors/codes.js";
import { type InterceptSpec, enforcedAddresses, validateSpec } from "../../../src/intercept/rules-spec.js";

const base: InterceptSpec = {
  backend: "nft",
  table: "l7proxy",
  proxyPort: 15001,
  mark: 0x7e57,
  routeTable: 157,
  ingressIps: ["10.0.0.1"],
  egressIps: [],
};

function problem(spec: Partial<InterceptSpec>): string {
  try {
    validateSpec({ ...base, ...spec });
  } catch (err) {
    expect(err).toBeInstanceOf(L7ProxyError);
    expect((err as L7ProxyError).code).toBe("L7P_ERR_RULES");
    return (err as Error).message;
  }
  throw new Error("expected the spec to be rejected");
}

describe("validateSpec", () => {
  test("accepts a complete spec", () => {
    expect(() => validateSpec({ ...base, excludeMark: 0x7e58, ingressIps: ["fd00::1"], egressIps: ["10.0.0.2"] })).not.toThrow();
  });

  test.each([
    [{ proxyPort: 0 }, "proxyPort 0"],
    [{ proxyPort: 70000 }, "proxyPort 70000"],
    [{ mark: 0 }, "mark 0"],
    [{ mark: 2 ** 32 }, "mark 4294967296"],
    [{ excludeMark: 0x7e57 }, "excludeMark must differ from mark"],
    [{ routeTable: 254 }, "routeTable 254"],
    [{ routeTable: 0 }, "routeTable 0"],
    [{ rulePriority: 32766 }, "rulePriority 32766"],
    [{ table: "l7proxy; flush ruleset" }, "table \"l7proxy; flush ruleset\""],
    [{ table: "a_name_that_is_far_too_long_for_a_chain" }, "table"],
    [{ backend: "ebpf" as never }, "backend \"ebpf\""],
    [{ ingressIps: ["10.0.0.300"] }, "ingressIps has \"10.0.0.300\""],
    [{ egressIps: ["10.0.0.0/24"] }, "egressIps has \"10.0.0.0/24\""],
    [{ egressIps: ["fe80::1%eth0"] }, "egressIps has \"fe80::1%eth0\""],
  ])("rejects %j", (spec, expected) => {
    expect(problem(spec)).toContain(expected);
  });

  test("names every problem at once", () => {
    const message = problem({ proxyPort: -1, mark: 0, ingressIps: ["nope"] });
    expect(message).toContain("proxyPort");
    expect(message).toContain("mark");
    expect(message).toContain("nope");
  });
});

describe("enforcedAddresses", () => {
  test("splits by family, de-duplicates and sorts", () => {
    const addresses = enforcedAddresses({
      ...base,
      ingressIps: ["10.0.0.2", "fd00::1", "10.0.0.1", "10.0.0.2", "fd00:0:0::1"],
      egressIps: ["10.0.0.9", "::ffff:10.0.0.9"],
    });
    expect(addresses).toEqual({
      ingress4: ["10.0.0.1", "10.0.0.2"],
      ingress6: ["fd00::1"],
      egress4: ["10.0.0.9"],
      egress6: ["::ffff:a00:9"],
    });
  });
});
