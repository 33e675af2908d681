// DNS names and patterns as Cilium's FQDN code turns them into regexes
// (pkg/fqdn/matchpattern/matchpattern.go, pkg/fqdn/dns/dns.go, pkg/fqdn/dnsproxy/proxy.go):
// names are lower-cased and fully qualified (trailing dot), `*` matches within one label,
// a leading `**.` matches one or more whole labels, and a bare `*` matches any name.
// Used both by L7 `dns` rules (the DNS proxy) and by `toFQDNs` peers.

import RE2 from "re2";
import type { FQDNSelector } from "../../api/types.js";

const DNS_CHARS = "[-a-zA-Z0-9_]";
const ANY_NAME = `(?:${DNS_CHARS}+[.])+|[.]`;

/** Lower case with exactly one trailing dot, as dns.FQDN does; queries go through this too. */
export function fqdn(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith(".") ? lower : `${lower}.`;
}

function isBareWildcard(pattern: string): boolean {
  return /^[*]+[.]?$/.test(pattern);
}

function escapeLiteral(text: string): string {
  let out = "";
  for (const ch of text) {
    if (ch === ".") out += "[.]";
    else if (/[-a-zA-Z0-9_]/.test(ch)) out += ch;
    else out += `\\x{${ch.codePointAt(0)?.toString(16) ?? "0"}}`;
  }
  return out;
}

/** Unanchored regex source for a matchName. */
function matchNameSource(name: string): string {
  return escapeLiteral(fqdn(name));
}

/** Unanchored regex source for a matchPattern. */
function matchPatternSource(pattern: string): string {
  const p = pattern.trim().toLowerCase();
  if (isBareWildcard(p)) return ANY_NAME;
  let rest = fqdn(p);
  let out = "";
  const leading = /^[*]{2,}[.]/.exec(rest);
  if (leading !== null) {
    out += `(?:${DNS_CHARS}+(?:[.]${DNS_CHARS}+)*)[.]`;
    rest = rest.slice(leading[0].length);
  }
  for (const part of rest.split(/([*]+)/)) {
    if (part === "") continue;
    out += part.startsWith("*") ? `${DNS_CHARS}*` : escapeLiteral(part);
  }
  return out;
}

function selectorSource(sel: FQDNSelector): string | undefined {
  if (sel.matchName !== undefined && sel.matchName !== "") return matchNameSource(sel.matchName);
  if (sel.matchPattern !== undefined && sel.matchPattern !== "") return matchPatternSource(sel.matchPattern);
  return undefined;
}

/**
 * One anchored RE2 for a list of selectors, matched against `fqdn(name)`. For the DNS proxy a
 * bare `*` (or no selector at all) matches every query, whatever its characters.
 */
export function compileNameMatcher(selectors: readonly FQDNSelector[], mode: "dns-proxy" | "to-fqdns"): RE2 | "all" | "none" {
  const sources: string[] = [];
  for (const s of selectors) {
    if (mode === "dns-proxy" && s.matchPattern !== undefined && isBareWildcard(s.matchPattern.trim())) return "all";
    const src = selectorSource(s);
    if (src !== undefined) sources.push(src);
  }
  if (selectors.length === 0) return mode === "dns-proxy" ? "all" : "none";
  // Selectors that were all empty must not turn into "everything": fail closed.
  if (sources.length === 0) return "none";
  return new RE2(`^(?:${sources.join("|")})$`);
}
