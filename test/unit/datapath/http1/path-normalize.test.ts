// Expected values are Envoy's own (test/common/http/path_utility_test.cc and the
// PathWithEscapedSlashesRedirected integration test) where Envoy has a case for them.
import { describe, expect, it } from "vitest";
import { isNormalTarget, normalizeTarget, scanTarget, type NormalizedTarget } from "../../../../src/datapath/http1/path-normalize.js";
import type { HttpParseError } from "../../../../src/datapath/http1/parse-error.js";
import { RequestHead, parseRequestHead } from "../../../../src/datapath/http1/request-head.js";

function norm(t: string): NormalizedTarget {
  const r = normalizeTarget(t);
  if (!("target" in r)) throw new Error(`refused ${t}: ${r.message}`);
  return r;
}

function refused(t: string): HttpParseError {
  const r = normalizeTarget(t);
  if ("target" in r) throw new Error(`${t} was accepted as ${r.target}`);
  return r;
}

const cases: [string, string][] = [
  // Envoy's NormalizeValidPaths / NormalizeCasePath
  ["/a/b/../c", "/a/c"],
  ["/a/b/./c", "/a/b/c"],
  ["/a/b/../../../../c", "/c"],
  ["/a/..\\c", "/c"],
  ["/%c0%af", "/%c0%af"],
  ["/%5b%25", "/%5b%25"],
  ["/a/b/%2E%2E/c", "/a/c"],
  ["/a/b/%2e%2e/c", "/a/c"],
  ["/a/b/%2E./c", "/a/c"],
  ["/a/b/%2E/c", "/a/b/c"],
  ["/../a/b", "/a/b"],
  ["/./a/b", "/a/b"],
  ["/A/B/C", "/A/B/C"],
  // merge_slashes, after the dot segments are resolved (as Envoy orders them)
  ["//a//b///c//", "/a/b/c/"],
  ["/a//../b", "/a/b"],
  ["/a/b?a=///c", "/a/b?a=///c"],
  ["//a/?b", "/a/?b"],
  // unreserved escapes decoded, others kept with their hex case
  ["/%41dmin/%7e%2D%5F%30", "/Admin/~-_0"],
  ["/caf%C3%a9/%3b%3F", "/caf%C3%a9/%3b%3F"],
  // bytes a path may not carry literally are escaped in upper-case hex
  ["/a b".replace(" ", "\u00e9"), "/a%E9b"],
  ['/q"<>^`{|}', "/q%22%3C%3E%5E%60%7B%7C%7D"],
  // dots inside names and at the end
  ["/a/.b/c..d/e.", "/a/.b/c..d/e."],
  ["/a/b/.", "/a/b/"],
  ["/a/b/..", "/a/"],
  ["/a/%2e", "/a/"],
  // the query is never touched
  ["/a/./b?x=/../y&%zz&%41", "/a/b?x=/../y&%zz&%41"],
  ["/p/../admin?q=1", "/admin?q=1"],
];

describe("path normalization as Cilium's Envoy configures it", () => {
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} -> ${JSON.stringify(want)}`, () => {
      const r = norm(input);
      expect(r.target).toBe(want);
      expect(r.escapedSlashes).toBe(false);
      // Normalizing twice changes nothing more.
      expect(norm(r.target).target).toBe(want);
      // The fast check may send an unchanged path the slow way, never a changing one the fast way.
      if (input !== want) expect(isNormalTarget(input)).toBe(false);
      // The request head parser's byte scan agrees, and its head carries the normalized path.
      const raw = Buffer.from(`GET ${input} HTTP/1.1\r\nHost: h\r\n\r\n`, "latin1");
      if (input !== want) expect(scanTarget(raw, 4)).toBeLessThan(0);
      const head = parseRequestHead(raw, 0, raw.length, { maxHeaders: 10 });
      if (!(head instanceof RequestHead)) throw new Error(head.message);
      expect([head.path, head.forwardTarget, head.target]).toEqual([want, input === want ? null : want, input]);
    });
  }

  it("unescapes %2F and %5C, normalizes the result and asks for a redirect (Envoy's integration test)", () => {
    expect(norm("/private%2f../%2e%5Cpublic")).toEqual({ target: "/public", escapedSlashes: true });
    expect(norm("/a%2Fb%5cc?x=%2F")).toEqual({ target: "/a/b/c?x=%2F", escapedSlashes: true });
    // Envoy's "/%5c%25" case, through the whole pipeline: "\" is a slash, then slashes merge.
    expect(norm("/%5c%25")).toEqual({ target: "/%25", escapedSlashes: true });
  });

  it("does not redirect for %2F in the query only", () => {
    expect(norm("/a?next=%2Fb")).toEqual({ target: "/a?next=%2Fb", escapedSlashes: false });
    expect(isNormalTarget("/a?next=%2Fb")).toBe(true);
  });

  it("refuses malformed escapes, %00 and fragments with 400", () => {
    for (const t of ["/a%zz", "/a%2", "/a%", "/a/%%41", "/xyz/%00.%00./abc", "/xyz/.%00../abc", "/a#frag", "/a?b#c"]) {
      const e = refused(t);
      expect([e.code, e.status]).toEqual(["L7P_ERR_HTTP_PATH", 400]);
      expect(isNormalTarget(t)).toBe(false);
      const raw = Buffer.from(`GET ${t} HTTP/1.1\r\nHost: h\r\n\r\n`, "latin1");
      const head = parseRequestHead(raw, 0, raw.length, { maxHeaders: 10 });
      expect(head instanceof RequestHead ? head.path : head.code).toBe("L7P_ERR_HTTP_PATH");
    }
  });

  it("leaves common paths alone without the slow path", () => {
    for (const t of ["/", "/api/v1/users", "/static/app.min.js", "/.well-known/x", "/a?b=../c//d", "/a/b/"]) {
      expect(isNormalTarget(t)).toBe(true);
      expect(scanTarget(Buffer.from(`${t} `, "latin1"), 0)).toBe(t.length);
      expect(norm(t).target).toBe(t);
    }
  });

  it("handles a 64 KiB hostile path", () => {
    const hostile = "/" + "a/../%2e%2e/.//".repeat(5000);
    expect(hostile.length).toBeGreaterThan(64 * 1024);
    expect(norm(hostile).target).toBe("/");
    const deep = "/" + "x/".repeat(32 * 1024) + "..".repeat(1);
    expect(norm(deep).target).toBe("/" + "x/".repeat(32 * 1024 - 1));
  });
});
