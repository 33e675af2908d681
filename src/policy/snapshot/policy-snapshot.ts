// The compiled, immutable policy: what the data path asks per connection (decideFlow) and per
// request (decideHttp / decideKafka / decideDns). Every call is lookups and precompiled
// matchers only. A flow's per-side context (which entries matched) is remembered in a WeakMap
// keyed by the FlowVerdict, so a request decision does not redo the L3/L4 work; a verdict from
// another snapshot (after a swap) is simply decided again against this one.

import type {
  DecidedBy,
  Direction,
  DnsQueryFacts,
  DnsRedirect,
  FlowQuery,
  FlowVerdict,
  HeaderOp,
  HttpRequestFacts,
  KafkaRequestFacts,
  L7Protocol,
  L7Verdict,
  NonTcpPolicy,
  Peer,
  PolicySnapshot,
  SideVerdict,
} from "../decision.js";
import type { Endpoint } from "../endpoints/types.js";
import { type CompiledEntry, type CompiledPeer, type PeerRef, peerMatches } from "../compile/compiled-entry.js";
import type { RuleOrigin } from "../compile/ir.js";
import type { HttpRuleRef, PeerGroup, SideTable } from "../compile/side-table.js";
import { fqdn } from "../match/dns/dns-pattern.js";
import { evaluateHttp, type HeaderOverlay } from "../match/http/evaluate-http.js";
import type { IndexedRule } from "../match/http/http-index.js";
import { kafkaRuleMatches, requestTopicSet } from "../match/kafka/kafka-rule.js";
import { canonicalIp, parseIp } from "../net/ip.js";
import { buildDnsRedirects } from "./dns-redirects.js";
import { buildNonTcpPolicy, type FqdnIpLookup } from "./non-tcp-policy.js";

/** DecidedBy with the field path of the deciding rule inside its policy, for explanations. */
export type ExplainedDecidedBy = DecidedBy & { rulePath?: string; layer?: "l3-l4" | "l7" };

interface SideCtx {
  table: SideTable;
  /** Entries covering the flow's port. */
  portEntries: ReadonlySet<number>;
  /** Peers (of those entries) that the flow's other side matched, allow groups only. */
  matchedPeers: ReadonlySet<CompiledPeer>;
  matched: readonly PeerGroup[];
  l7Kind: L7Protocol | null;
  /** An allow entry without L7 rules: every request is allowed (but still visible). */
  allowAll: CompiledEntry | null;
  /** Whether an HTTP rule applies to this flow: its entry covers the port and its peer matched. */
  ruleApplies: (rule: IndexedRule<HttpRuleRef>) => boolean;
  /** The side verdict of an HTTP request no rule allows, made on first use. */
  l7Denied: SideVerdict | null;
}

function hasHttpActions(c: SideCtx | null): boolean {
  return c !== null && c.table.http !== null && c.table.http.hasActions;
}

const NO_OPS: readonly HeaderOp[] = Object.freeze([]);
const NO_LOGS: readonly string[] = Object.freeze([]);
/** Never written to: header actions, the only writers, get a fresh overlay. */
const NO_OVERLAY: HeaderOverlay = new Map();

interface FlowCtx {
  egress: SideCtx | null;
  ingress: SideCtx | null;
}

export interface SnapshotParts {
  revision: number;
  endpoints: readonly Endpoint[];
  /**
   * Each endpoint's security identity (identityKey) by endpoint index, computed on first
   * use: only Kafka connections that meet topic IDs ask for it.
   */
  identityKeyOf?: (index: number) => string;
  ipIndex: ReadonlyMap<string, number>;
  ingress: readonly (SideTable | null)[];
  egress: readonly (SideTable | null)[];
  warnings: readonly string[];
}

function policyDecision(origin: RuleOrigin, action: "allow" | "deny", layer: "l3-l4" | "l7", rulePath = origin.path): ExplainedDecidedBy {
  return { kind: "policy", policy: origin.policy, ruleIndex: origin.ruleIndex, action, layer, rulePath };
}

const NOT_ENFORCED: DecidedBy = Object.freeze({ kind: "not-enforced" });
const DEFAULT_DENY: DecidedBy = Object.freeze({ kind: "default-deny" });
const L7_DEFAULT_DENY: ExplainedDecidedBy = Object.freeze({ kind: "default-deny", layer: "l7" });

/** An L7 request matched no rule: name the policies whose L7 rules govern this flow's port. */
function l7DefaultDeny(c: SideCtx): ExplainedDecidedBy {
  const policies: string[] = [];
  for (const e of allowEntries(c)) {
    if (e.l7 !== null && e.l7 !== undefined && !policies.includes(e.origin.policy)) policies.push(e.origin.policy);
  }
  return policies.length === 0 ? L7_DEFAULT_DENY : { kind: "default-deny", layer: "l7", policies };
}

function side(direction: Direction, enforced: boolean, allowed: boolean, decidedBy: DecidedBy): SideVerdict {
  return { direction, enforced, allowed, decidedBy };
}

export class CompiledPolicySnapshot implements PolicySnapshot {
  readonly revision: number;
  readonly warnings: readonly string[];
  private readonly endpoints: readonly Endpoint[];
  private readonly endpointInfo: readonly NonNullable<Peer["endpoint"]>[];
  private readonly ipIndex: ReadonlyMap<string, number>;
  private readonly ingressTables: readonly (SideTable | null)[];
  private readonly egressTables: readonly (SideTable | null)[];
  private readonly flows = new WeakMap<FlowVerdict, FlowCtx>();
  private readonly allowedByRule = { ingress: new WeakMap<HttpRuleRef, SideVerdict>(), egress: new WeakMap<HttpRuleRef, SideVerdict>() };
  private readonly enforced: { ingress: string[]; egress: string[] };
  /** Built on first use (only the process that installs rules needs it), then kept. */
  private readonly lazy: { nonTcp?: NonTcpPolicy; dns?: readonly DnsRedirect[]; datagramFqdn?: boolean } = {};
  /** Security identities asked for so far, by endpoint index. */
  private readonly identityKeys = new Map<number, string>();

  constructor(parts: SnapshotParts) {
    this.revision = parts.revision;
    this.warnings = Object.freeze([...parts.warnings]);
    this.endpoints = parts.endpoints;
    const keyOf = parts.identityKeyOf;
    const keys = this.identityKeys;
    this.endpointInfo = parts.endpoints.map((e, i) => {
      const labels = Object.freeze({ ...e.labels });
      if (keyOf === undefined) return Object.freeze({ namespace: e.namespace, name: e.name, workload: e.workload, labels });
      return Object.freeze({
        namespace: e.namespace,
        name: e.name,
        workload: e.workload,
        labels,
        get identity(): string {
          let k = keys.get(i);
          if (k === undefined) {
            k = keyOf(i);
            keys.set(i, k);
          }
          return k;
        },
      });
    });
    this.ipIndex = parts.ipIndex;
    this.ingressTables = parts.ingress;
    this.egressTables = parts.egress;
    const ips = (tables: readonly (SideTable | null)[]): string[] =>
      parts.endpoints.flatMap((e, i) => (tables[i]?.enforced === true ? e.ips : []));
    this.enforced = Object.freeze({ ingress: Object.freeze(ips(parts.ingress)) as string[], egress: Object.freeze(ips(parts.egress)) as string[] });
    Object.freeze(this);
  }

  enforcedIps(): { ingress: string[]; egress: string[] } {
    return { ingress: [...this.enforced.ingress], egress: [...this.enforced.egress] };
  }

  nonTcpPolicy(fqdnIps?: FqdnIpLookup): NonTcpPolicy {
    const inputs = { endpoints: this.endpoints, ipIndex: this.ipIndex, ingress: this.ingressTables, egress: this.egressTables, enforced: this.enforced };
    // Learnt names change the result only through toFQDNs peers with datagram ports.
    if (fqdnIps !== undefined && this.hasDatagramFqdnPeers()) return buildNonTcpPolicy({ ...inputs, fqdnIps });
    this.lazy.nonTcp ??= buildNonTcpPolicy(inputs);
    const p = this.lazy.nonTcp;
    return { endpointIps: [...p.endpointIps], allow: [...p.allow], deny: [...p.deny] };
  }

  hasDatagramFqdnPeers(): boolean {
    this.lazy.datagramFqdn ??= this.egressTables.some(
      (t) => t !== null && t.entries.some((e) => e.peer.fqdn !== "none" && e.ports.some((r) => r.protocol !== "TCP")),
    );
    return this.lazy.datagramFqdn;
  }

  dnsRedirects(): DnsRedirect[] {
    this.lazy.dns ??= Object.freeze(buildDnsRedirects(this.endpoints, this.egressTables));
    return [...this.lazy.dns];
  }

  /** The endpoint index of an address, or -1. */
  endpointIndex(ip: string): number {
    const direct = this.ipIndex.get(ip);
    if (direct !== undefined) return direct;
    const canon = canonicalIp(ip);
    return canon === undefined ? -1 : this.ipIndex.get(canon) ?? -1;
  }

  private peer(ip: string, index: number): Peer {
    if (index >= 0) return { ip, endpoint: this.endpointInfo[index] };
    return { ip, reserved: "world" };
  }

  decideFlow(q: FlowQuery): FlowVerdict {
    return this.decide(q).verdict;
  }

  private decide(q: FlowQuery): { verdict: FlowVerdict; ctx: FlowCtx } {
    const src = this.endpointIndex(q.srcIp);
    const dst = this.endpointIndex(q.dstIp);
    let dstNames: readonly string[] | null = null;
    const dstRef: PeerRef = {
      endpoint: dst,
      ip: dst >= 0 ? undefined : parseIp(q.dstIp),
      names: () => (dstNames ??= q.dstNames ?? namesFor(q.dstIp, q.fqdnIps)),
    };
    const srcRef: PeerRef = { endpoint: src, ip: src >= 0 ? undefined : parseIp(q.srcIp), names: () => [] };
    const eg = decideSide(src >= 0 ? this.egressTables[src] ?? null : null, "egress", q, dstRef);
    const ing = decideSide(dst >= 0 ? this.ingressTables[dst] ?? null : null, "ingress", q, srcRef);
    const egKind = eg.ctx?.l7Kind ?? null;
    const ingKind = ing.ctx?.l7Kind ?? null;
    let ingress = ing.verdict;
    if (egKind !== null && ingKind !== null && egKind !== ingKind && eg.verdict.allowed && ingress.allowed) {
      // Egress wants one parser, ingress another: the connection cannot be enforced for both.
      // The destination's side refuses it (its rules are the ones the source cannot meet).
      ingress = side("ingress", true, false, l7PoliciesDeny(ing.ctx?.matched ?? []));
    }
    const allowed = eg.verdict.allowed && ingress.allowed;
    const verdict: FlowVerdict = {
      allowed,
      source: this.peer(q.srcIp, src),
      destination: this.peer(q.dstIp, dst),
      egress: eg.verdict,
      ingress,
      l7: allowed ? egKind ?? ingKind : null,
    };
    const ctx = { egress: eg.ctx, ingress: ing.ctx };
    this.flows.set(verdict, ctx);
    return { verdict, ctx };
  }

  private flowCtx(flow: FlowVerdict, q: FlowQuery): { flow: FlowVerdict; ctx: FlowCtx } {
    const ctx = this.flows.get(flow);
    if (ctx !== undefined) return { flow, ctx };
    const again = this.decide(q);
    return { flow: again.verdict, ctx: again.ctx };
  }

  decideHttp(flow0: FlowVerdict, q: FlowQuery, req: HttpRequestFacts): L7Verdict {
    let flow = flow0;
    let ctx = this.flows.get(flow0);
    if (ctx === undefined) {
      const again = this.decide(q);
      flow = again.verdict;
      ctx = again.ctx;
    }
    // Called per request: the usual request (no header actions) allocates only its verdict.
    // The arrays and the header overlay exist only when some rule has header actions, and an
    // allowing rule's side verdict is built once per snapshot, then shared.
    const acts = hasHttpActions(ctx.egress) || hasHttpActions(ctx.ingress);
    const headerOps: HeaderOp[] = acts ? [] : (NO_OPS as HeaderOp[]);
    const logs: string[] = acts ? [] : (NO_LOGS as string[]);
    if (!flow.allowed) return { allowed: false, egress: flow.egress, ingress: flow.ingress, headerOps, logs };
    const overlay: HeaderOverlay = acts ? new Map() : NO_OVERLAY;
    const egress = this.decideHttpSide(ctx.egress, flow.egress, req, overlay, headerOps, logs);
    const ingress = this.decideHttpSide(ctx.ingress, flow.ingress, req, overlay, headerOps, logs);
    return { allowed: egress.allowed && ingress.allowed, egress, ingress, headerOps, logs };
  }

  private decideHttpSide(
    c: SideCtx | null,
    s: SideVerdict,
    req: HttpRequestFacts,
    overlay: HeaderOverlay,
    headerOps: HeaderOp[],
    logs: string[],
  ): SideVerdict {
    if (c === null || c.l7Kind === null) return s;
    if (c.l7Kind !== "http") return side(s.direction, true, false, L7_DEFAULT_DENY);
    const m = c.table.http === null ? null : evaluateHttp(c.table.http, c.ruleApplies, req, overlay, headerOps, logs);
    if (m !== null) return this.ruleAllowed(m.data, s.direction);
    if (c.allowAll !== null) return side(s.direction, true, true, policyDecision(c.allowAll.origin, "allow", "l3-l4"));
    // The same for every request of the flow that no rule allows.
    c.l7Denied ??= Object.freeze(side(s.direction, true, false, l7DefaultDeny(c)));
    return c.l7Denied;
  }

  /** The side verdict of a request an HTTP rule allowed: the same for every such request. */
  private ruleAllowed(rule: HttpRuleRef, direction: Direction): SideVerdict {
    const cache = direction === "ingress" ? this.allowedByRule.ingress : this.allowedByRule.egress;
    let v = cache.get(rule);
    if (v === undefined) {
      const by = Object.freeze(policyDecision(rule.origin, "allow", "l7", `${rule.origin.path}.rules.http[${rule.index}]`));
      v = Object.freeze(side(direction, true, true, by));
      cache.set(rule, v);
    }
    return v;
  }

  decideKafka(flow0: FlowVerdict, q: FlowQuery, req: KafkaRequestFacts): L7Verdict {
    return this.decideSimple(flow0, q, "kafka", (c) => {
      // One topic set per side, shared by all its rules: every topic must be covered.
      const topics = requestTopicSet(req.apiKey, req.topics);
      for (const e of allowEntries(c)) {
        if (e.l7?.kind !== "kafka") continue;
        for (let i = 0; i < e.l7.rules.length; i++) {
          if (kafkaRuleMatches(e.l7.rules[i]!, req, topics)) return { entry: e, path: `${e.origin.path}.rules.kafka[${i}]` };
        }
      }
      return null;
    });
  }

  decideDns(flow0: FlowVerdict, q: FlowQuery, req: DnsQueryFacts): L7Verdict {
    const name = fqdn(req.qname);
    return this.decideSimple(flow0, q, "dns", (c) => {
      for (const e of allowEntries(c)) {
        if (e.l7?.kind !== "dns") continue;
        const m = e.l7.matcher;
        if (m === "all" || (m !== "none" && m.test(name))) return { entry: e, path: `${e.origin.path}.rules.dns` };
      }
      return null;
    });
  }

  private decideSimple(
    flow0: FlowVerdict,
    q: FlowQuery,
    kind: L7Protocol,
    match: (c: SideCtx) => { entry: CompiledEntry; path: string } | null,
  ): L7Verdict {
    const { flow, ctx } = this.flowCtx(flow0, q);
    const headerOps: HeaderOp[] = [];
    const logs: string[] = [];
    if (!flow.allowed) return { allowed: false, egress: flow.egress, ingress: flow.ingress, headerOps, logs };
    const decideOne = (c: SideCtx | null, s: SideVerdict): SideVerdict => {
      if (c === null || c.l7Kind === null) return s;
      if (c.l7Kind !== kind) return side(s.direction, true, false, L7_DEFAULT_DENY);
      const m = match(c);
      if (m !== null) return side(s.direction, true, true, policyDecision(m.entry.origin, "allow", "l7", m.path));
      if (c.allowAll !== null) return side(s.direction, true, true, policyDecision(c.allowAll.origin, "allow", "l3-l4"));
      return side(s.direction, true, false, l7DefaultDeny(c));
    };
    const egress = decideOne(ctx.egress, flow.egress);
    const ingress = decideOne(ctx.ingress, flow.ingress);
    return { allowed: egress.allowed && ingress.allowed, egress, ingress, headerOps, logs };
  }

  /** Endpoints known to this snapshot (for tools such as `l7proxy check`). */
  listEndpoints(): readonly Endpoint[] {
    return this.endpoints;
  }
}

function namesFor(ip: string, fqdnIps: ReadonlyMap<string, readonly string[]> | undefined): string[] {
  if (fqdnIps === undefined || fqdnIps.size === 0) return [];
  const canon = canonicalIp(ip) ?? ip;
  const out: string[] = [];
  for (const [name, ips] of fqdnIps) {
    if (ips.some((x) => x === ip || canonicalIp(x) === canon)) out.push(fqdn(name));
  }
  return out;
}

function sideCtx(
  table: SideTable,
  portEntries: ReadonlySet<number>,
  matchedPeers: ReadonlySet<CompiledPeer>,
  matched: readonly PeerGroup[],
  l7Kind: L7Protocol | null,
  allowAll: CompiledEntry | null,
): SideCtx {
  const ruleApplies = (r: IndexedRule<HttpRuleRef>): boolean => matchedPeers.has(r.data.peer) && portEntries.has(r.entryId);
  return { table, portEntries, matchedPeers, matched, l7Kind, allowAll, ruleApplies, l7Denied: null };
}

function* allowEntries(c: SideCtx): Generator<CompiledEntry> {
  for (const g of c.matched) yield* g.allows;
}

function decideSide(table: SideTable | null, direction: Direction, q: FlowQuery, peer: PeerRef): { verdict: SideVerdict; ctx: SideCtx | null } {
  if (table === null || !table.enforced) return { verdict: side(direction, false, true, NOT_ENFORCED), ctx: null };
  const bucket = table.lookup(q.protocol, q.dstPort);
  const matched: PeerGroup[] = [];
  for (const g of bucket.groups) {
    if (!peerMatches(g.peer, peer)) continue;
    // Deny always wins, whatever the order of the policies.
    if (g.deny !== null) return { verdict: side(direction, true, false, policyDecision(g.deny.origin, "deny", "l3-l4")), ctx: null };
    if (g.allows.length > 0) matched.push(g);
  }
  if (matched.length === 0) return { verdict: side(direction, true, false, DEFAULT_DENY), ctx: null };
  let l7Kind: L7Protocol | null = null;
  let allowAll: CompiledEntry | null = null;
  let first: CompiledEntry | null = null;
  let conflict = false;
  for (const g of matched) {
    if (g.l4Only !== null && (allowAll === null || g.l4Only.id < allowAll.id)) allowAll = g.l4Only;
    for (const k of g.l7Kinds) {
      if (l7Kind === null) l7Kind = k;
      else if (k !== l7Kind) conflict = true;
    }
    const f = g.allows[0] as CompiledEntry;
    if (first === null || f.id < first.id) first = f;
  }
  if (conflict) {
    // The rules that apply name two L7 protocols for this port: no one parser can enforce
    // both, so the connection is refused (fail closed), naming the policies involved.
    return { verdict: side(direction, true, false, l7PoliciesDeny(matched)), ctx: null };
  }
  const decider = allowAll ?? (first as CompiledEntry);
  return {
    verdict: side(direction, true, true, policyDecision(decider.origin, "allow", "l3-l4")),
    ctx: sideCtx(table, bucket.entryIds, new Set(matched.map((g) => g.peer)), matched, l7Kind, allowAll),
  };
}

function l7PoliciesDeny(groups: readonly PeerGroup[]): ExplainedDecidedBy {
  const policies: string[] = [];
  for (const g of groups) {
    for (const e of g.allows) if (e.l7 !== null && e.l7 !== undefined && !policies.includes(e.origin.policy)) policies.push(e.origin.policy);
  }
  return { kind: "default-deny", layer: "l7", policies };
}
