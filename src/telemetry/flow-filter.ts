// The filters /flows and `l7proxy observe` share, modelled on `hubble observe`: a flow
// matches a namespace, pod or workload filter when either its source or its destination
// does. Filters are exact matches: no patterns, so a filter is cheap on a busy ring.

import type { FlowRecord, FlowVerdictName } from "./flow-record.js";

export interface FlowFilter {
  verdict?: FlowVerdictName;
  namespace?: string;
  /** "name" or "namespace/name". */
  pod?: string;
  /** "name" or "namespace/name". */
  workload?: string;
  protocol?: string;
  /** A policy ref as records show it: "namespace/name", "name", "default-deny" or "none". */
  policy?: string;
}

const FILTER_KEYS = ["verdict", "namespace", "pod", "workload", "protocol", "policy"] as const;

export class FlowFilterError extends Error {
  override readonly name = "FlowFilterError";
}

/** Reads filters from query parameters; unknown verdicts fail so a typo never shows everything. */
export function parseFlowFilter(params: URLSearchParams): FlowFilter {
  const f: FlowFilter = {};
  for (const key of FILTER_KEYS) {
    const values = params.getAll(key);
    if (values.length === 0) continue;
    if (values.length > 1) throw new FlowFilterError(`${key}: give at most one value`);
    const v = values[0]!;
    if (v === "") throw new FlowFilterError(`${key}: empty value`);
    if (key === "verdict") {
      const upper = v.toUpperCase();
      if (upper !== "FORWARDED" && upper !== "DROPPED" && upper !== "AUDIT") {
        throw new FlowFilterError(`verdict: expected FORWARDED, DROPPED or AUDIT, got '${v}'`);
      }
      f.verdict = upper;
    } else if (key === "protocol") {
      f.protocol = v.toLowerCase();
    } else {
      f[key] = v;
    }
  }
  return f;
}

export function filterToParams(f: FlowFilter): URLSearchParams {
  const p = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const v = f[key];
    if (v !== undefined) p.set(key, v);
  }
  return p;
}

function nameMatches(wanted: string, ep: { namespace: string }, name: string): boolean {
  const slash = wanted.indexOf("/");
  if (slash < 0) return name === wanted;
  return ep.namespace === wanted.slice(0, slash) && name === wanted.slice(slash + 1);
}

export function matchesFlow(r: FlowRecord, f: FlowFilter): boolean {
  if (f.verdict !== undefined && r.verdict !== f.verdict) return false;
  if (f.protocol !== undefined && r.protocol !== f.protocol) return false;
  if (f.namespace !== undefined && r.source.namespace !== f.namespace && r.destination.namespace !== f.namespace) return false;
  if (f.pod !== undefined) {
    const want = f.pod;
    if (!nameMatches(want, r.source, r.source.pod) && !nameMatches(want, r.destination, r.destination.pod)) return false;
  }
  if (f.workload !== undefined) {
    const want = f.workload;
    if (!nameMatches(want, r.source, r.source.workload) && !nameMatches(want, r.destination, r.destination.workload)) return false;
  }
  if (f.policy !== undefined && r.policy.ref !== f.policy && !r.sides.some((s) => s.ref === f.policy)) return false;
  return true;
}
