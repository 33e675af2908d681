import { describe, expect, it } from "vitest";
import type { HeaderOp, HttpRequestFacts } from "../../../../../src/policy/decision.js";
import type { PortRuleHTTP } from "../../../../../src/policy/api/types.js";
import { evaluateHttp } from "../../../../../src/policy/match/http/evaluate-http.js";
import { HttpIndex } from "../../../../../src/policy/match/http/http-index.js";
import { compileHttpRule, parseHeaderEntry } from "../../../../../src/policy/match/http/http-rule.js";

function req(method: string, path: string, headers: Record<string, string> = {}, host = ""): HttpRequestFacts {
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, path, host, header: (n) => h.get(n) };
}

function decide(rules: PortRuleHTTP[], r: HttpRequestFacts, secrets: Record<string, string> = {}) {
  // The caller of compileHttpRule applies the policy's namespace; here references name it or mean "ns".
  const lookup = (ref: { namespace?: string; name: string }) => secrets[`${ref.namespace || "ns"}/${ref.name}`];
  const index = new HttpIndex(rules.map((rule, i) => ({ matcher: compileHttpRule(rule, lookup), entryId: 0, data: i })));
  const ops: HeaderOp[] = [];
  const logs: string[] = [];
  const m = evaluateHttp(index, () => true, r, new Map(), ops, logs);
  return { matched: m?.data ?? null, ops, logs };
}

describe("HTTP rule matching (cilium-envoy semantics)", () => {
  it("splits headers entries on the first space and trims the name's colon", () => {
    expect(parseHeaderEntry("X-My-Header: true")).toEqual({ name: "X-My-Header", value: "true" });
    expect(parseHeaderEntry("X-A: b c")).toEqual({ name: "X-A", value: "b c" });
    expect(parseHeaderEntry("X-My-Header:true")).toEqual({ name: "X-My-Header:true", value: null });
    expect(parseHeaderEntry("X-Present")).toEqual({ name: "X-Present", value: null });
  });

  it("full-matches method, path (with query) and host with RE2", () => {
    expect(decide([{ method: "GET|HEAD", path: "/a/[0-9]+" }], req("HEAD", "/a/12")).matched).toBe(0);
    expect(decide([{ method: "GET|HEAD", path: "/a/[0-9]+" }], req("GET", "/a/12?x=1")).matched).toBeNull();
    expect(decide([{ path: "/a.*" }], req("GET", "/a?x=1")).matched).toBe(0);
    expect(decide([{ host: "api\\.example\\.com" }], req("GET", "/", {}, "api.example.com")).matched).toBe(0);
    // The port is part of the Host header Envoy matches.
    expect(decide([{ host: "api\\.example\\.com" }], req("GET", "/", {}, "api.example.com:8080")).matched).toBeNull();
    expect(decide([{ host: ".*" }], req("GET", "/", {}, "")).matched).toBeNull();
  });

  it("treats headers as presence or exact value, names case-insensitive", () => {
    expect(decide([{ headers: ["X-Present"] }], req("GET", "/", { "x-present": "" })).matched).toBe(0);
    expect(decide([{ headers: ["X-Present"] }], req("GET", "/")).matched).toBeNull();
    expect(decide([{ headers: ["X-V: 1"] }], req("GET", "/", { "X-V": "1,2" })).matched).toBeNull();
  });

  it("uses headerMatches without mismatch as exact matches", () => {
    expect(decide([{ headerMatches: [{ name: "X-Token", value: "abc" }] }], req("GET", "/", { "x-token": "abc" })).matched).toBe(0);
    expect(decide([{ headerMatches: [{ name: "X-Token", value: "abc" }] }], req("GET", "/", { "x-token": "abd" })).matched).toBeNull();
  });

  describe("secret-backed headerMatches", () => {
    const S = { "ns/tok": "s3cret", "vault/tok": "from-vault" };
    const tokenIs = (v: string | undefined) => req("GET", "/", v === undefined ? {} : { "x-token": v });

    it("match the Secret's value exactly when the Secret is available", () => {
      const rules: PortRuleHTTP[] = [{ headerMatches: [{ name: "X-Token", secret: { name: "tok" } }] }];
      expect(decide(rules, tokenIs("s3cret"), S).matched).toBe(0);
      expect(decide(rules, tokenIs("s3creT"), S).matched).toBeNull();
      expect(decide(rules, tokenIs("s3cret2"), S).matched).toBeNull();
      expect(decide(rules, tokenIs(""), S).matched).toBeNull();
      expect(decide(rules, tokenIs(undefined), S).matched).toBeNull();
    });

    it("prefer the Secret over the inline value, and read the namespace the reference names", () => {
      const inline: PortRuleHTTP[] = [{ headerMatches: [{ name: "X-Token", value: "inline", secret: { name: "tok" } }] }];
      expect(decide(inline, tokenIs("s3cret"), S).matched).toBe(0);
      expect(decide(inline, tokenIs("inline"), S).matched).toBeNull();
      const vault: PortRuleHTTP[] = [{ headerMatches: [{ name: "X-Token", secret: { namespace: "vault", name: "tok" } }] }];
      expect(decide(vault, tokenIs("from-vault"), S).matched).toBe(0);
      expect(decide(vault, tokenIs("s3cret"), S).matched).toBeNull();
    });

    it("fall back to the inline value when the Secret is missing or empty", () => {
      const rules: PortRuleHTTP[] = [{ headerMatches: [{ name: "X-Token", value: "inline", secret: { name: "missing" } }] }];
      expect(decide(rules, tokenIs("inline"), S).matched).toBe(0);
      expect(decide(rules, tokenIs("other"), S).matched).toBeNull();
      const empty: PortRuleHTTP[] = [{ headerMatches: [{ name: "X-Token", value: "inline", secret: { name: "empty" } }] }];
      expect(decide(empty, tokenIs("inline"), { "ns/empty": "" }).matched).toBe(0);
    });

    it("never match without the Secret and without an inline value, whatever the mismatch action", () => {
      for (const mismatch of [undefined, "LOG", "ADD", "DELETE", "REPLACE"] as const) {
        const hm = { name: "X-Token", secret: { name: "missing" }, ...(mismatch === undefined ? {} : { mismatch }) };
        for (const v of ["anything", "", undefined]) {
          const r = decide([{ headerMatches: [hm] }], tokenIs(v), S);
          expect(r.matched, `${mismatch ?? "FAIL"} with ${v}`).toBeNull();
          expect(r.ops).toEqual([]);
        }
      }
      // The other rule still decides: only the rule with the unresolved match is out.
      expect(decide([{ headerMatches: [{ name: "X-Token", secret: { name: "missing" } }] }, { path: "/" }], tokenIs("x"), S).matched).toBe(1);
    });

    it("run each mismatch action with the Secret's value, flagging it as secret", () => {
      const rule = (mismatch: "LOG" | "ADD" | "DELETE" | "REPLACE"): PortRuleHTTP[] => [{ headerMatches: [{ name: "X-Token", secret: { name: "tok" }, mismatch }] }];
      for (const m of ["LOG", "ADD", "DELETE", "REPLACE"] as const) {
        const ok = decide(rule(m), tokenIs("s3cret"), S);
        expect(ok.matched).toBe(0);
        expect(ok.ops).toEqual([]);
        expect(ok.logs).toEqual([]);
      }
      const log = decide(rule("LOG"), tokenIs("wrong"), S);
      expect(log.matched).toBe(0);
      expect(log.ops).toEqual([]);
      expect(log.logs).toEqual(["X-Token: mismatch"]);
      const add = decide(rule("ADD"), tokenIs("wrong"), S);
      expect(add.matched).toBe(0);
      expect(add.ops).toEqual([{ op: "add", name: "X-Token", value: "s3cret", secret: true }]);
      expect(add.logs).toEqual(["X-Token: added"]);
      const del = decide(rule("DELETE"), tokenIs("wrong"), S);
      expect(del.ops).toEqual([{ op: "delete", name: "X-Token" }]);
      expect(decide(rule("DELETE"), tokenIs(undefined), S).ops).toEqual([]);
      const rep = decide(rule("REPLACE"), tokenIs(undefined), S);
      expect(rep.matched).toBe(0);
      expect(rep.ops).toEqual([{ op: "replace", name: "X-Token", value: "s3cret", secret: true }]);
      // Inline values are not secret: their ops carry no flag.
      expect(decide([{ headerMatches: [{ name: "X-Token", value: "inline", secret: { name: "missing" }, mismatch: "REPLACE" }] }], tokenIs(undefined), S).ops).toEqual([
        { op: "replace", name: "X-Token", value: "inline" },
      ]);
    });

    it("never put the Secret's value into the notes", () => {
      const rules: PortRuleHTTP[] = [
        { headerMatches: [{ name: "X-Token", secret: { name: "tok" }, mismatch: "LOG" }] },
        { headerMatches: [{ name: "X-Token", secret: { name: "tok" }, mismatch: "REPLACE" }] },
      ];
      const r = decide(rules, tokenIs("wrong"), S);
      expect(r.logs.join("\n")).not.toContain("s3cret");
    });
  });

  it("runs mismatch actions without denying", () => {
    const add = decide([{ headerMatches: [{ name: "X-Cluster", value: "blue", mismatch: "ADD" }] }], req("GET", "/", { "x-cluster": "red" }));
    expect(add.matched).toBe(0);
    expect(add.ops).toEqual([{ op: "add", name: "X-Cluster", value: "blue" }]);
    const del = decide([{ headerMatches: [{ name: "X-Debug", value: "off", mismatch: "DELETE" }] }], req("GET", "/", { "x-debug": "on" }));
    expect(del.ops).toEqual([{ op: "delete", name: "X-Debug" }]);
    expect(decide([{ headerMatches: [{ name: "X-Debug", value: "off", mismatch: "DELETE" }] }], req("GET", "/")).ops).toEqual([]);
    const rep = decide([{ headerMatches: [{ name: "X-Tenant", value: "t1", mismatch: "REPLACE" }] }], req("GET", "/"));
    expect(rep.ops).toEqual([{ op: "replace", name: "X-Tenant", value: "t1" }]);
    const log = decide([{ headerMatches: [{ name: "X-Trace", value: "1", mismatch: "LOG" }] }], req("GET", "/"));
    expect(log.matched).toBe(0);
    expect(log.ops).toEqual([]);
    expect(log.logs).toEqual(["X-Trace: missing"]);
    expect(decide([{ headerMatches: [{ name: "X-Tenant", value: "t1", mismatch: "REPLACE" }] }], req("GET", "/", { "x-tenant": "t1" })).ops).toEqual([]);
  });

  it("runs every matching rule's actions in order, later rules seeing earlier changes", () => {
    const r = decide(
      [
        { path: "/a", headerMatches: [{ name: "X-A", value: "1", mismatch: "REPLACE" }] },
        { path: "/b" },
        { path: "/.*", headers: ["X-A: 1"], headerMatches: [{ name: "X-B", value: "2", mismatch: "ADD" }] },
      ],
      req("GET", "/a"),
    );
    expect(r.matched).toBe(0);
    expect(r.ops).toEqual([
      { op: "replace", name: "X-A", value: "1" },
      { op: "add", name: "X-B", value: "2" },
    ]);
  });

  it("finds the one matching rule among 10,000 via the index", () => {
    const rules: PortRuleHTTP[] = [];
    for (let i = 0; i < 10_000; i++) rules.push({ method: i % 2 === 0 ? "GET" : "POST", path: `/svc${i}/items/.*` });
    rules.push({ path: ".*/health" });
    expect(decide(rules, req("POST", "/svc9999/items/1")).matched).toBe(9999);
    expect(decide(rules, req("GET", "/svc9999/items/1")).matched).toBeNull();
    expect(decide(rules, req("GET", "/svc1/health")).matched).toBe(10_000);
    expect(decide(rules, req("GET", "/svc10/items/x")).matched).toBe(10);
  });

  it("decides a hostile 64 KiB path without backtracking", () => {
    const path = `/${"a".repeat(65_536)}!`;
    expect(decide([{ path: "/(a+)+$" }, { path: "/(a|aa)*b" }], req("GET", path)).matched).toBeNull();
  });
});
