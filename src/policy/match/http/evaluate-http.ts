// Deciding one HTTP request against the rules of one side, as cilium-envoy does
// (cilium/network_policy.cc): a rule matches when method, path, host and every header check
// match (AND); rules are OR-ed. When some rule has header mismatch actions, every matching
// rule runs its actions in order (later rules see the headers as modified), and the request
// is allowed if any rule matched; otherwise the first match decides.

import type { HeaderOp, HttpRequestFacts } from "../../decision.js";
import type { HttpIndex, IndexedRule } from "./http-index.js";
import { type HttpRuleMatcher, headerValueEquals, stringMatches } from "./http-rule.js";

/** Header values as seen after earlier actions (undefined = deleted). */
export type HeaderOverlay = Map<string, string | undefined>;

function headerValue(req: HttpRequestFacts, overlay: HeaderOverlay, nameLower: string): string | undefined {
  return overlay.has(nameLower) ? overlay.get(nameLower) : req.header(nameLower);
}

function basicMatch(m: HttpRuleMatcher, req: HttpRequestFacts, overlay: HeaderOverlay): boolean {
  if (m.method !== null && !stringMatches(m.method, req.method)) return false;
  if (m.path !== null && !stringMatches(m.path, req.path)) return false;
  // Envoy matches the host regex against :authority; an absent header matches no regex.
  if (m.host !== null && (req.host === "" || !stringMatches(m.host, req.host))) return false;
  for (const c of m.checks) {
    if (c.never) return false;
    const v = headerValue(req, overlay, c.nameLower);
    if (v === undefined) return false;
    if (c.value !== null && !headerValueEquals(v, c.value, c.secret)) return false;
  }
  return true;
}

function runActions(m: HttpRuleMatcher, req: HttpRequestFacts, overlay: HeaderOverlay, ops: HeaderOp[], logs: string[]): void {
  for (const a of m.actions) {
    const current = headerValue(req, overlay, a.nameLower);
    const ok = a.value === "" ? current !== undefined : current !== undefined && headerValueEquals(current, a.value, a.secret);
    if (ok) continue;
    const secret = a.secret === undefined ? {} : { secret: true as const };
    switch (a.mismatch) {
      case "LOG":
        logs.push(`${a.name}: ${current === undefined ? "missing" : "mismatch"}`);
        break;
      case "ADD":
        ops.push({ op: "add", name: a.name, value: a.value, ...secret });
        overlay.set(a.nameLower, current === undefined ? a.value : `${current},${a.value}`);
        logs.push(`${a.name}: added`);
        break;
      case "DELETE":
        // Only a present header with a wrong value is removed; presence matches are no-ops.
        if (current !== undefined && a.value !== "") {
          ops.push({ op: "delete", name: a.name });
          overlay.set(a.nameLower, undefined);
          logs.push(`${a.name}: deleted`);
        }
        break;
      case "REPLACE":
        ops.push({ op: "replace", name: a.name, value: a.value, ...secret });
        overlay.set(a.nameLower, a.value);
        logs.push(`${a.name}: replaced`);
        break;
    }
  }
}

/**
 * The first rule (in policy order) that allows the request among rules that apply to this
 * flow (`ruleApplies`: its entry covers the port and its peer matched), running header actions into `ops`/`logs`. null when none matches.
 */
export function evaluateHttp<T>(
  index: HttpIndex<T>,
  ruleApplies: (rule: IndexedRule<T>) => boolean,
  req: HttpRequestFacts,
  overlay: HeaderOverlay,
  ops: HeaderOp[],
  logs: string[],
): IndexedRule<T> | null {
  let first: IndexedRule<T> | null = null;
  for (const id of index.candidates(req.method, req.path)) {
    const rule = index.rules[id] as IndexedRule<T>;
    if (!ruleApplies(rule)) continue;
    if (!basicMatch(rule.matcher, req, overlay)) continue;
    if (!index.hasActions) return rule;
    runActions(rule.matcher, req, overlay, ops, logs);
    first ??= rule;
  }
  return first;
}
