import { describe, expect, it } from "vitest";
import { isPlainLiteral, literalPrefix } from "../../../../../src/policy/match/http/literal-prefix.js";

describe("literal prefix of an RE2 pattern", () => {
  it("takes the literal text up to the first metacharacter", () => {
    expect(literalPrefix("/api/inventory/.*")).toBe("/api/inventory/");
    expect(literalPrefix("/v1/path1$")).toBe("/v1/path1");
    expect(literalPrefix("^/a/b")).toBe("/a/b");
    expect(literalPrefix("/a\\.json")).toBe("/a.json");
    expect(literalPrefix("/api/(a|b)")).toBe("/api/");
  });

  it("drops a quantified last atom and gives up on alternation, classes and flags", () => {
    expect(literalPrefix("/ab?")).toBe("/a");
    expect(literalPrefix("/ab*c")).toBe("/a");
    expect(literalPrefix("/ab{2}")).toBe("/a");
    expect(literalPrefix("/a|/b")).toBe("");
    expect(literalPrefix("(?i)/admin")).toBe("");
    expect(literalPrefix(".*/path3")).toBe("");
    expect(literalPrefix("/\\d+")).toBe("/");
    expect(literalPrefix("[/]x|y")).toBe("");
  });

  it("knows plain literals", () => {
    expect(isPlainLiteral("GET")).toBe(true);
    expect(isPlainLiteral("/public")).toBe(true);
    expect(isPlainLiteral("GET|POST")).toBe(false);
  });
});
