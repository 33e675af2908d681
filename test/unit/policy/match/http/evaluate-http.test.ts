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

function decide(rules: PortRuleHTTP[], r: HttpRequestFacts) {
  const index = new HttpIndex(rules.map((rule, i) => ({ matcher: compileHttpRule(rule), entryId: 0, data: i })));
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

  it("uses headerMatches without mismatch as exact matches and fails secret-backed ones closed", () => {
    expect(decide([{ headerMatches: [{ name: "X-Token", value: "abc" }] }], req("GET", "/", { "x-token": "abc" })).matched).toBe(0);
    expect(decide([{ headerMatches: [{ name: "X-Token", value: "abc" }] }], req("GET", "/", { "x-token": "abd" })).matched).toBeNull();
    expect(decide([{ headerMatches: [{ name: "X-Token", secret: { name: "s" } }] }], req("GET", "/", { "x-token": "abc" })).matched).toBeNull();
    expect(decide([{ headerMatches: [{ name: "X-Token", value: "abc", secret: { name: "s" } }] }], req("GET", "/", { "x-token": "abc" })).matched).toBeNull();
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
