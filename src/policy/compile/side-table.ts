// Everything one endpoint's policy says for one direction, laid out for lookups: entries by
// protocol and exact port (ranges and "all ports" merged in at compile time), the entries
// covering other ports, and one HTTP index over the HTTP rules of all its allow entries.
// Endpoints selected by the same rules share one table.

import { HttpIndex, type IndexedRule } from "../match/http/http-index.js";
import type { Protocol } from "../decision.js";
import type { CompiledEntry } from "./compiled-entry.js";
import type { RuleOrigin } from "./ir.js";

export interface HttpRuleRef {
  origin: RuleOrigin;
  /** Index of the rule in its port rule's `rules.http` list. */
  index: number;
}

const PROTO_INDEX: Record<Protocol, number> = { TCP: 0, UDP: 1, SCTP: 2 };

function portKey(protocol: Protocol, port: number): number {
  return PROTO_INDEX[protocol] * 65536 + port;
}

export class SideTable {
  readonly enforced: boolean;
  readonly defaultDeny: boolean;
  readonly entries: readonly CompiledEntry[];
  readonly http: HttpIndex<HttpRuleRef> | null;
  private readonly exact = new Map<number, CompiledEntry[]>();
  /** Entries with at least one range (or all-ports) component, for ports without an exact key. */
  private readonly ranged: CompiledEntry[] = [];

  constructor(entries: readonly CompiledEntry[], enforced: boolean, defaultDeny: boolean) {
    this.enforced = enforced;
    this.defaultDeny = defaultDeny;
    this.entries = entries;
    const exactKeys = new Set<number>();
    for (const e of entries) {
      let hasRange = false;
      for (const r of e.ports) {
        if (r.lo === r.hi) exactKeys.add(portKey(r.protocol, r.lo));
        else hasRange = true;
      }
      if (hasRange) this.ranged.push(e);
    }
    for (const key of exactKeys) {
      const protocol = (["TCP", "UDP", "SCTP"] as const)[Math.floor(key / 65536)] as Protocol;
      const port = key % 65536;
      this.exact.set(key, entries.filter((e) => covers(e, protocol, port)));
    }
    const httpRules: IndexedRule<HttpRuleRef>[] = [];
    for (const e of entries) {
      if (e.deny || e.l7?.kind !== "http") continue;
      e.l7.rules.forEach((matcher, index) => httpRules.push({ matcher, entryId: e.id, data: { origin: e.origin, index } }));
    }
    this.http = httpRules.length > 0 ? new HttpIndex(httpRules) : null;
    Object.freeze(this);
  }

  /** Entries that apply to this protocol and port, in policy order. */
  lookup(protocol: Protocol, port: number): readonly CompiledEntry[] {
    const hit = this.exact.get(portKey(protocol, port));
    if (hit !== undefined) return hit;
    if (this.ranged.length === 0) return this.ranged;
    return this.ranged.filter((e) => covers(e, protocol, port));
  }
}

function covers(e: CompiledEntry, protocol: Protocol, port: number): boolean {
  for (const r of e.ports) if (r.protocol === protocol && r.lo <= port && port <= r.hi) return true;
  return false;
}
