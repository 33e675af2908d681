// Cilium endpoint selectors, normalised once at compile time: every key carries its label
// source ("any" unless written as "k8s:..." / "reserved:..."), matchLabels become `In`
// requirements, and matching is a loop over requirements against an Identity.

import type { EndpointSelector, LabelSelectorRequirement } from "../api/types.js";
import { type Identity, parseLabelKey, SOURCE_ANY } from "../labels/identity.js";

export type Operator = LabelSelectorRequirement["operator"];

export interface Requirement {
  source: string;
  key: string;
  op: Operator;
  values: ReadonlySet<string>;
}

export interface LabelSelector {
  readonly requirements: readonly Requirement[];
}

export function normalizeSelector(sel: EndpointSelector | undefined, defaultSource: string = SOURCE_ANY): LabelSelector {
  const requirements: Requirement[] = [];
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) {
    const { source, key } = parseLabelKey(k, defaultSource);
    requirements.push({ source, key, op: "In", values: new Set([String(v ?? "")]) });
  }
  for (const e of sel?.matchExpressions ?? []) {
    const { source, key } = parseLabelKey(e.key, defaultSource);
    requirements.push({ source, key, op: e.operator, values: new Set((e.values ?? []).map(String)) });
  }
  return { requirements };
}

/** Cilium's EndpointSelector.HasKey: the exact "source:key" appears in a requirement. */
export function selectorHasKey(sel: LabelSelector, source: string, key: string): boolean {
  return sel.requirements.some((r) => r.source === source && r.key === key);
}

/** Cilium's HasKeyPrefix on "source:keyPrefix". */
export function selectorHasKeyPrefix(sel: LabelSelector, source: string, keyPrefix: string): boolean {
  return sel.requirements.some((r) => r.source === source && r.key.startsWith(keyPrefix));
}

export function selectorHasSource(sel: LabelSelector, source: string): boolean {
  return sel.requirements.some((r) => r.source === source);
}

function lookup(id: Identity, source: string, key: string): string | undefined {
  return source === SOURCE_ANY ? id.byKey.get(key) : id.labels.get(`${source}:${key}`);
}

export function selectorMatches(sel: LabelSelector, id: Identity): boolean {
  for (const r of sel.requirements) {
    const v = lookup(id, r.source, r.key);
    switch (r.op) {
      case "In":
        if (v === undefined || !r.values.has(v)) return false;
        break;
      case "NotIn":
        if (v !== undefined && r.values.has(v)) return false;
        break;
      case "Exists":
        if (v === undefined) return false;
        break;
      case "DoesNotExist":
        if (v !== undefined) return false;
        break;
      default:
        // An operator the validator should have rejected: select nothing rather than everything.
        return false;
    }
  }
  return true;
}

export function describeSelector(sel: LabelSelector): string {
  if (sel.requirements.length === 0) return "{}";
  return sel.requirements
    .map((r) => {
      const k = `${r.source}:${r.key}`;
      if (r.op === "In" && r.values.size === 1) return `${k}=${[...r.values][0] ?? ""}`;
      if (r.op === "Exists" || r.op === "DoesNotExist") return `${k} ${r.op}`;
      return `${k} ${r.op} (${[...r.values].join(",")})`;
    })
    .join(", ");
}
