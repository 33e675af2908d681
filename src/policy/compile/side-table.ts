// Everything one endpoint's policy says for one direction, laid out for lookups: for each
// protocol and port, a precomputed bucket of the entries that apply, grouped by peer so that a
// flow tests each distinct peer once (10,000 policies for the same peer cost one test), and one
// HTTP index over the HTTP rules of all its allow entries. Ports that no rule names exactly
// fall into precomputed intervals between range boundaries. Endpoints selected by the same
// rules share one table.

import { HttpIndex, type IndexedRule } from "../match/http/http-index.js";
import type { L7Protocol, Protocol } from "../decision.js";
import type { CompiledEntry, CompiledPeer } from "./compiled-entry.js";
import type { RuleOrigin } from "./ir.js";

export interface HttpRuleRef {
  origin: RuleOrigin;
  /** Index of the rule in its port rule's `rules.http` list. */
  index: number;
  peer: CompiledPeer;
}

export interface PeerGroup {
  peer: CompiledPeer;
  /** The first deny entry for this peer, if any: it wins over every allow. */
  deny: CompiledEntry | null;
  /** Allow entries for this peer, in policy order. */
  allows: readonly CompiledEntry[];
  /** The first allow entry without L7 rules: every request from this peer is allowed. */
  l4Only: CompiledEntry | null;
  /** The L7 protocols its allow entries name, in policy order (more than one: a conflict). */
  l7Kinds: readonly L7Protocol[];
}

export interface PortBucket {
  entryIds: ReadonlySet<number>;
  groups: readonly PeerGroup[];
  /** Every L7 protocol the bucket's allow entries name, whatever the peer. */
  l7Kinds: readonly L7Protocol[];
}

const PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];
const PROTO_INDEX: Record<Protocol, number> = { TCP: 0, UDP: 1, SCTP: 2 };
const EMPTY_BUCKET: PortBucket = Object.freeze({ entryIds: new Set<number>(), groups: [], l7Kinds: [] });

function portKey(protocol: Protocol, port: number): number {
  return PROTO_INDEX[protocol] * 65536 + port;
}

function covers(e: CompiledEntry, protocol: Protocol, port: number): boolean {
  for (const r of e.ports) if (r.protocol === protocol && r.lo <= port && port <= r.hi) return true;
  return false;
}

function makeBucket(entries: readonly CompiledEntry[]): PortBucket {
  if (entries.length === 0) return EMPTY_BUCKET;
  const groups = new Map<CompiledPeer, { peer: CompiledPeer; deny: CompiledEntry | null; allows: CompiledEntry[]; l4Only: CompiledEntry | null; l7Kinds: L7Protocol[] }>();
  const l7Kinds: L7Protocol[] = [];
  for (const e of entries) {
    let g = groups.get(e.peer);
    if (g === undefined) {
      g = { peer: e.peer, deny: null, allows: [], l4Only: null, l7Kinds: [] };
      groups.set(e.peer, g);
    }
    if (e.deny) g.deny ??= e;
    else {
      g.allows.push(e);
      if (e.l7 === null) g.l4Only ??= e;
      else {
        if (!g.l7Kinds.includes(e.l7.kind)) g.l7Kinds.push(e.l7.kind);
        if (!l7Kinds.includes(e.l7.kind)) l7Kinds.push(e.l7.kind);
      }
    }
  }
  return Object.freeze({
    entryIds: new Set(entries.map((e) => e.id)),
    groups: [...groups.values()].map((g) => Object.freeze(g)),
    l7Kinds: Object.freeze(l7Kinds),
  });
}

interface Interval {
  lo: number;
  bucket: PortBucket;
}

export class SideTable {
  readonly enforced: boolean;
  readonly defaultDeny: boolean;
  readonly http: HttpIndex<HttpRuleRef> | null;
  /** Every entry of the table (the kernel's non-TCP filter needs the port boundaries). */
  readonly entries: readonly CompiledEntry[];
  private readonly exact = new Map<number, PortBucket>();
  /** Per protocol, sorted intervals (by start port) for ports without an exact bucket. */
  private readonly intervals: Interval[][] = [[], [], []];

  constructor(entries: readonly CompiledEntry[], enforced: boolean, defaultDeny: boolean) {
    this.enforced = enforced;
    this.defaultDeny = defaultDeny;
    this.entries = Object.freeze([...entries]);
    const exactKeys = new Set<number>();
    const cuts: Set<number>[] = [new Set([0]), new Set([0]), new Set([0])];
    const ranged: CompiledEntry[] = [];
    for (const e of entries) {
      let hasRange = false;
      for (const r of e.ports) {
        if (r.lo === r.hi) exactKeys.add(portKey(r.protocol, r.lo));
        else {
          hasRange = true;
          cuts[PROTO_INDEX[r.protocol]]?.add(r.lo).add(r.hi + 1);
        }
      }
      if (hasRange) ranged.push(e);
    }
    for (const key of exactKeys) {
      const protocol = PROTOCOLS[Math.floor(key / 65536)] as Protocol;
      this.exact.set(key, makeBucket(entries.filter((e) => covers(e, protocol, key % 65536))));
    }
    PROTOCOLS.forEach((protocol, pi) => {
      const starts = [...(cuts[pi] as Set<number>)].filter((c) => c <= 65535).sort((a, b) => a - b);
      let prev: PortBucket | null = null;
      for (const lo of starts) {
        const covering = ranged.filter((e) => covers(e, protocol, lo));
        const bucket: PortBucket = prev !== null && sameEntries(prev, covering) ? prev : makeBucket(covering);
        if (bucket !== prev) (this.intervals[pi] as Interval[]).push({ lo, bucket });
        prev = bucket;
      }
    });
    const httpRules: IndexedRule<HttpRuleRef>[] = [];
    for (const e of entries) {
      if (e.deny || e.l7?.kind !== "http") continue;
      const peer = e.peer;
      e.l7.rules.forEach((matcher, index) => httpRules.push({ matcher, entryId: e.id, data: { origin: e.origin, index, peer } }));
    }
    this.http = httpRules.length > 0 ? new HttpIndex(httpRules) : null;
    Object.freeze(this);
  }

  /**
   * Ports whose allow entries name more than one L7 protocol ("TCP/9092 (http, kafka)"):
   * no one parser can serve them, so connections whose rules disagree are denied.
   */
  conflictingPorts(): string[] {
    const out: string[] = [];
    for (const [key, b] of this.exact) {
      if (b.l7Kinds.length > 1) out.push(`${PROTOCOLS[Math.floor(key / 65536)]}/${key % 65536} (${b.l7Kinds.join(", ")})`);
    }
    PROTOCOLS.forEach((protocol, pi) => {
      const list = this.intervals[pi] as Interval[];
      list.forEach((iv, i) => {
        if (iv.bucket.l7Kinds.length < 2) return;
        const hi = (list[i + 1]?.lo ?? 65536) - 1;
        out.push(`${protocol}/${iv.lo}-${hi} (${iv.bucket.l7Kinds.join(", ")})`);
      });
    });
    return out;
  }

  /** The entries that apply to this protocol and port, grouped by peer. */
  lookup(protocol: Protocol, port: number): PortBucket {
    const hit = this.exact.get(portKey(protocol, port));
    if (hit !== undefined) return hit;
    const list = this.intervals[PROTO_INDEX[protocol]] as Interval[];
    let lo = 0;
    let hi = list.length - 1;
    let found: PortBucket = EMPTY_BUCKET;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const iv = list[mid] as Interval;
      if (iv.lo <= port) {
        found = iv.bucket;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

function sameEntries(b: PortBucket, entries: readonly CompiledEntry[]): boolean {
  return b.entryIds.size === entries.length && entries.every((e) => b.entryIds.has(e.id));
}
