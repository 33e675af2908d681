import { describe, expect, it } from "vitest";
import { compileNameMatcher, fqdn } from "../../../../../src/policy/match/dns/dns-pattern.js";

function matches(sel: { matchName?: string; matchPattern?: string }, name: string, mode: "dns-proxy" | "to-fqdns" = "to-fqdns"): boolean {
  const m = compileNameMatcher([sel], mode);
  return m === "all" ? true : m === "none" ? false : m.test(fqdn(name));
}

describe("DNS names and patterns (Cilium matchpattern)", () => {
  it("matches names case- and trailing-dot-insensitively", () => {
    expect(matches({ matchName: "cilium.io" }, "Cilium.IO.")).toBe(true);
    expect(matches({ matchName: "cilium.io." }, "cilium.io")).toBe(true);
    expect(matches({ matchName: "cilium.io" }, "www.cilium.io")).toBe(false);
    expect(matches({ matchName: "cilium.io" }, "ciliumXio")).toBe(false);
  });

  it("keeps * within one label", () => {
    expect(matches({ matchPattern: "*.cilium.io" }, "sub.cilium.io")).toBe(true);
    expect(matches({ matchPattern: "*.cilium.io" }, "cilium.io")).toBe(false);
    expect(matches({ matchPattern: "*.cilium.io" }, "sub.sub.cilium.io")).toBe(false);
    expect(matches({ matchPattern: "*cilium.io" }, "cilium.io")).toBe(true);
    expect(matches({ matchPattern: "*cilium.io" }, "sub-cilium.io")).toBe(true);
    expect(matches({ matchPattern: "*cilium.io" }, "www.cilium.io")).toBe(false);
    expect(matches({ matchPattern: "part*ial.com" }, "part-extra-ial.com")).toBe(true);
  });

  it("lets a leading **. match one or more labels", () => {
    expect(matches({ matchPattern: "**.cilium.io" }, "app.cilium.io")).toBe(true);
    expect(matches({ matchPattern: "**.cilium.io" }, "test.app.cilium.io")).toBe(true);
    expect(matches({ matchPattern: "**.cilium.io" }, "cilium.io")).toBe(false);
  });

  it("treats a bare * as any DNS name, and as everything in the DNS proxy", () => {
    expect(matches({ matchPattern: "*" }, "a.b.c")).toBe(true);
    expect(matches({ matchPattern: "*" }, "we!rd")).toBe(false);
    expect(matches({ matchPattern: "*" }, "we!rd", "dns-proxy")).toBe(true);
  });

  it("never treats regex metacharacters in names as regex", () => {
    expect(compileNameMatcher([{ matchName: "a+b.com" }], "to-fqdns")).not.toBe("all");
    expect(matches({ matchName: "a+b.com" }, "aab.com")).toBe(false);
    expect(compileNameMatcher([{ matchName: "" }], "dns-proxy")).toBe("none");
  });
});
