import RE2 from "re2";
import { describe, expect, it } from "vitest";
import { compileString, stringMatches } from "../../../../../src/policy/match/http/http-rule.js";

// The matcher takes shortcuts for plain literals and `LITERAL.*`; each must answer exactly as
// RE2's full match of the pattern (what cilium-envoy runs) would.
const PATTERNS = ["/public/.*", ".*", "/a.*", "/public/", "GET", "/api/v1/svc1/items/[0-9]+", "/x/.*/y", "/p\\..*", "/p.+"];
const TEXTS = [
  "",
  "/",
  "/public/",
  "/public/b0",
  "/public/a/b?c=d",
  "/public/a\nb",
  "/public/\r",
  "/publi",
  "/Public/x",
  "x/public/y",
  "/a",
  "/abc",
  "/p.x",
  "/pxx",
  "GET",
  "get",
  "/api/v1/svc1/items/42",
  "/x/q/y",
  "/public/\u00e9\u00ff",
  "\n",
];

describe("stringMatches", () => {
  for (const pattern of PATTERNS) {
    it(`answers as RE2's full match of ${JSON.stringify(pattern)}`, () => {
      const m = compileString(pattern)!;
      const re = new RE2(`^(?:${pattern})$`);
      for (const text of TEXTS) expect([text, stringMatches(m, text)]).toEqual([text, re.test(text)]);
    });
  }

  it("takes the prefix shortcut only for a plain literal followed by .*", () => {
    expect(compileString("/public/.*")!.prefixAny).toBe("/public/");
    expect(compileString(".*")!.prefixAny).toBe("");
    expect(compileString("/p\\..*")!.prefixAny).toBeNull();
    expect(compileString("/x/.*/y")!.prefixAny).toBeNull();
    expect(compileString("/public/")!.literal).toBe("/public/");
  });

  it("still refuses an invalid pattern", () => {
    expect(() => compileString("/a(.*")).toThrow();
  });
});
