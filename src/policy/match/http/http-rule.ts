// One HTTP rule compiled for the hot path, following cilium-envoy: method, path and host are
// RE2 full matches (Envoy safe_regex), `headers` entries are split once on the first space
// ("Name: value" exact, "Name" presence; the trailing ':' of the name is trimmed), and
// `headerMatches` with an inline value are exact matches that either fail the rule (no
// mismatch action) or run their mismatch action (LOG/ADD/DELETE/REPLACE) without failing it.

import RE2 from "re2";
import type { HeaderMatch, PortRuleHTTP } from "../../api/types.js";
import { isPlainLiteral, literalPrefix } from "./literal-prefix.js";

export interface StringMatcher {
  /** Exact text when the pattern has no metacharacters: cheaper than RE2 and identical. */
  literal: string | null;
  re: RE2 | null;
}

export interface HeaderCheck {
  nameLower: string;
  /** null = presence only. */
  value: string | null;
  /** A secret-backed match l7proxy cannot resolve: the rule never matches (Envoy's inverted ""). */
  never: boolean;
}

export interface HeaderAction {
  name: string;
  nameLower: string;
  /** "" = presence. */
  value: string;
  mismatch: "LOG" | "ADD" | "DELETE" | "REPLACE";
}

export interface HttpRuleMatcher {
  method: StringMatcher | null;
  path: StringMatcher | null;
  host: StringMatcher | null;
  /** Literal text every matching path starts with ("" when unknown). */
  pathPrefix: string;
  /** Literal method (upper or mixed case as written) when the method pattern is plain. */
  methodLiteral: string | null;
  checks: HeaderCheck[];
  actions: HeaderAction[];
}

function compileString(pattern: string | undefined): StringMatcher | null {
  if (pattern === undefined || pattern === "") return null;
  if (isPlainLiteral(pattern)) return { literal: pattern, re: null };
  // Full match, as Envoy's RE2::FullMatch: anchoring here keeps the matcher a single test().
  return { literal: null, re: new RE2(`^(?:${pattern})$`) };
}

export function stringMatches(m: StringMatcher, text: string): boolean {
  return m.literal !== null ? m.literal === text : (m.re as RE2).test(text);
}

/** Splits a `headers` entry as Cilium does: first space; trailing ':' trimmed from the name. */
export function parseHeaderEntry(entry: string): { name: string; value: string | null } {
  const space = entry.indexOf(" ");
  if (space < 0) return { name: entry, value: null };
  return { name: entry.slice(0, space).replace(/:+$/, ""), value: entry.slice(space + 1) };
}

function compileHeaderMatch(h: HeaderMatch, checks: HeaderCheck[], actions: HeaderAction[]): void {
  const nameLower = h.name.toLowerCase();
  if (h.secret !== undefined) {
    checks.push({ nameLower, value: "", never: true });
    return;
  }
  const value = h.value ?? "";
  if (h.mismatch === undefined) {
    checks.push({ nameLower, value: value === "" ? null : value, never: false });
    return;
  }
  actions.push({ name: h.name, nameLower, value, mismatch: h.mismatch });
}

export function compileHttpRule(rule: PortRuleHTTP): HttpRuleMatcher {
  const checks: HeaderCheck[] = [];
  const actions: HeaderAction[] = [];
  for (const entry of rule.headers ?? []) {
    const { name, value } = parseHeaderEntry(entry);
    checks.push({ nameLower: name.toLowerCase(), value, never: false });
  }
  for (const h of rule.headerMatches ?? []) compileHeaderMatch(h, checks, actions);
  const method = compileString(rule.method);
  const path = compileString(rule.path);
  return {
    method,
    path,
    host: compileString(rule.host),
    pathPrefix: path === null ? "" : path.literal ?? literalPrefix(rule.path ?? ""),
    methodLiteral: method?.literal ?? null,
    checks,
    actions,
  };
}
