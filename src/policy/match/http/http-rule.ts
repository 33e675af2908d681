// One HTTP rule compiled for the hot path, following cilium-envoy: method, path and host are
// RE2 full matches (Envoy safe_regex), `headers` entries are split once on the first space
// ("Name: value" exact, "Name" presence; the trailing ':' of the name is trimmed), and
// `headerMatches` are exact matches that either fail the rule (no mismatch action) or run their
// mismatch action (LOG/ADD/DELETE/REPLACE) without failing it.
//
// A headerMatch naming a Secret takes its value from the Secret when the Secret is available
// and holds a value; otherwise the inline `value` is used if non-empty; otherwise the rule never
// matches, whatever the mismatch action (Cilium's translator emits an inverted "" matcher, and
// cilium-envoy's HeaderMatch::allowed returns false). Secret-backed values are compared in
// constant time on equal lengths (CRYPTO_memcmp in cilium-envoy) and are flagged so that
// nothing prints them.

import { timingSafeEqual } from "node:crypto";
import RE2 from "re2";
import type { HeaderMatch, PortRuleHTTP } from "../../api/types.js";
import { isPlainLiteral, literalPrefix } from "./literal-prefix.js";

export interface StringMatcher {
  /** Exact text when the pattern has no metacharacters: cheaper than RE2 and identical. */
  literal: string | null;
  /**
   * For a pattern `LITERAL.*` (the common "everything under /prefix/"): the literal. RE2's
   * `.` matches any character but a newline, so the full match is a prefix test plus "no
   * newline after it", with no call into RE2 (which copies the text to UTF-8 first).
   */
  prefixAny: string | null;
  re: RE2 | null;
}

export interface HeaderCheck {
  nameLower: string;
  /** null = presence only. */
  value: string | null;
  /** A secret-backed match without a value: the rule never matches (Envoy's inverted ""). */
  never: boolean;
  /** The value's bytes when it came from a Secret: compared in constant time, never printed. */
  secret?: Buffer;
}

export interface HeaderAction {
  name: string;
  nameLower: string;
  /** "" = presence. */
  value: string;
  mismatch: "LOG" | "ADD" | "DELETE" | "REPLACE";
  /** The value's bytes when it came from a Secret: compared in constant time, never printed. */
  secret?: Buffer;
}

/**
 * The value of the Secret a headerMatch names (the caller applies the policy's namespace when
 * the reference has none), or undefined when the Secret is not available.
 */
export type SecretLookup = (ref: { namespace?: string; name: string }) => string | undefined;

const NO_SECRETS: SecretLookup = () => undefined;

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

export function compileString(pattern: string | undefined): StringMatcher | null {
  if (pattern === undefined || pattern === "") return null;
  if (isPlainLiteral(pattern)) return { literal: pattern, prefixAny: null, re: null };
  // Full match, as Envoy's RE2::FullMatch: anchoring here keeps the matcher a single test().
  // RE2 still compiles the pattern, so an invalid one fails here all the same.
  const re = new RE2(`^(?:${pattern})$`);
  const head = pattern.slice(0, -2);
  if (pattern.endsWith(".*") && isPlainLiteral(head)) return { literal: null, prefixAny: head, re };
  return { literal: null, prefixAny: null, re };
}

export function stringMatches(m: StringMatcher, text: string): boolean {
  if (m.literal !== null) return m.literal === text;
  if (m.prefixAny !== null) return text.startsWith(m.prefixAny) && text.indexOf("\n", m.prefixAny.length) < 0;
  return (m.re as RE2).test(text);
}

/** Splits a `headers` entry as Cilium does: first space; trailing ':' trimmed from the name. */
export function parseHeaderEntry(entry: string): { name: string; value: string | null } {
  const space = entry.indexOf(" ");
  if (space < 0) return { name: entry, value: null };
  return { name: entry.slice(0, space).replace(/:+$/, ""), value: entry.slice(space + 1) };
}

/**
 * Whether a header value equals the expected one; secret-backed values in constant time
 * (only the length is revealed, as with CRYPTO_memcmp on equal lengths).
 */
export function headerValueEquals(actual: string, expected: string, secret: Buffer | undefined): boolean {
  if (secret === undefined) return actual === expected;
  const bytes = Buffer.from(actual, "utf8");
  return bytes.length === secret.length && timingSafeEqual(bytes, secret);
}

function compileHeaderMatch(h: HeaderMatch, lookup: SecretLookup, checks: HeaderCheck[], actions: HeaderAction[]): void {
  const nameLower = h.name.toLowerCase();
  let value = h.value ?? "";
  let secret: Buffer | undefined;
  if (h.secret !== undefined) {
    const fromSecret = lookup(h.secret);
    if (fromSecret !== undefined && fromSecret !== "") {
      value = fromSecret;
      secret = Buffer.from(fromSecret, "utf8");
    } else if (value === "") {
      // No Secret and nothing to fall back on: an empty value here would turn into a presence
      // match and allow any value, so the rule can never match instead.
      checks.push({ nameLower, value: null, never: true });
      return;
    }
  }
  const flagged = secret === undefined ? {} : { secret };
  if (h.mismatch === undefined) {
    checks.push({ nameLower, value: value === "" ? null : value, never: false, ...flagged });
    return;
  }
  actions.push({ name: h.name, nameLower, value, mismatch: h.mismatch, ...flagged });
}

/** Compiles one rule; `lookupSecret` supplies the values of Secrets that headerMatches name. */
export function compileHttpRule(rule: PortRuleHTTP, lookupSecret: SecretLookup = NO_SECRETS): HttpRuleMatcher {
  const checks: HeaderCheck[] = [];
  const actions: HeaderAction[] = [];
  for (const entry of rule.headers ?? []) {
    const { name, value } = parseHeaderEntry(entry);
    checks.push({ nameLower: name.toLowerCase(), value, never: false });
  }
  for (const h of rule.headerMatches ?? []) compileHeaderMatch(h, lookupSecret, checks, actions);
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
