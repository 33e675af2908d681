// IR entries resolved against the endpoint inventory: selectors become a bitmap of endpoint
// indexes, FQDN selectors one RE2, L7 rules their matchers. An entry is compiled once and
// shared by every endpoint whose policy contains it.

import type RE2 from "re2";
import type { Endpoint } from "../endpoints/types.js";
import { type Identity, WORLD_IDENTITY } from "../labels/identity.js";
import { compileNameMatcher, fqdn } from "../match/dns/dns-pattern.js";
import { compileKafkaRule, type KafkaMatcher } from "../match/kafka/kafka-rule.js";
import type { PortRuleHTTP } from "../api/types.js";
import { compileHttpRule, type HttpRuleMatcher, type SecretLookup } from "../match/http/http-rule.js";
import { cidrContains, type ParsedIp } from "../net/ip.js";
import { describeSelector, type LabelSelector, selectorMatches } from "../selectors/label-selector.js";
import type { CidrPeer, IrEntry, PeerSpec, PortRange, RuleOrigin } from "./ir.js";

export interface CompiledPeer {
  all: boolean;
  /** 1 at index i when endpoint i is selected. */
  endpoints: Uint8Array;
  world: boolean;
  cidrs: readonly CidrPeer[];
  fqdn: RE2 | "none";
}

export type CompiledL7 =
  | { kind: "http"; rules: HttpRuleMatcher[] }
  | { kind: "kafka"; rules: KafkaMatcher[] }
  | { kind: "dns"; matcher: RE2 | "all" | "none" };

export interface CompiledEntry {
  id: number;
  deny: boolean;
  peer: CompiledPeer;
  ports: readonly PortRange[];
  l7: CompiledL7 | null;
  origin: RuleOrigin;
}

/** The other side of a flow, resolved once per decision. */
export interface PeerRef {
  /** Endpoint index, or -1 for an address that is no endpoint's (world). */
  endpoint: number;
  ip: ParsedIp | undefined;
  /** FQDNs (fully qualified, lower case) a DNS answer associated with this IP; lazily filled. */
  names: () => readonly string[];
}

export function peerMatches(p: CompiledPeer, ref: PeerRef): boolean {
  if (p.all) return true;
  if (ref.endpoint >= 0) return p.endpoints[ref.endpoint] === 1;
  if (p.world) return true;
  if (ref.ip !== undefined) {
    for (const c of p.cidrs) {
      if (cidrContains(c.range, ref.ip) && !c.except.some((e) => cidrContains(e, ref.ip as ParsedIp))) return true;
    }
  }
  if (p.fqdn !== "none") {
    for (const n of ref.names()) if (p.fqdn.test(n)) return true;
  }
  return false;
}

export class EntryCompiler {
  private nextId = 0;
  private readonly entries = new Map<IrEntry, CompiledEntry>();
  private readonly selectorBits = new Map<string, Uint8Array>();
  private readonly peers = new Map<string, CompiledPeer>();

  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly identities: readonly Identity[],
    private readonly warn: (message: string) => void,
    /** Secret values by "namespace/name"; undefined when no Secrets are read at all (files). */
    private readonly secrets?: ReadonlyMap<string, string>,
  ) {}

  compile(e: IrEntry): CompiledEntry {
    let c = this.entries.get(e);
    if (c === undefined) {
      c = Object.freeze({ id: this.nextId++, deny: e.deny, peer: this.peer(e.peer), ports: e.ports, l7: compileL7(e, this.warn, this.secrets), origin: e.origin });
      this.entries.set(e, c);
    }
    return c;
  }

  /** A synthesized allow-everything entry (enableDefaultDeny: false). */
  wildcard(origin: RuleOrigin, ports: readonly PortRange[]): CompiledEntry {
    const peer: CompiledPeer = { all: true, endpoints: new Uint8Array(0), world: true, cidrs: [], fqdn: "none" };
    return Object.freeze({ id: this.nextId++, deny: false, peer, ports, l7: null, origin });
  }

  private bits(sel: LabelSelector): Uint8Array {
    const key = describeSelector(sel);
    let b = this.selectorBits.get(key);
    if (b === undefined) {
      b = new Uint8Array(this.endpoints.length);
      this.identities.forEach((id, i) => {
        if (selectorMatches(sel, id)) (b as Uint8Array)[i] = 1;
      });
      this.selectorBits.set(key, b);
    }
    return b;
  }

  /** Entries with equal peers share one CompiledPeer, so a flow tests each distinct peer once. */
  private peer(p: PeerSpec): CompiledPeer {
    const key = JSON.stringify([
      p.all,
      p.world,
      p.cluster,
      p.selectors.map(describeSelector),
      p.cidrs.map((c) => [c.range.text, c.except.map((e) => e.text)]),
      p.fqdns.map((f) => [f.matchName ?? "", f.matchPattern ?? ""]),
    ]);
    let c = this.peers.get(key);
    if (c === undefined) {
      c = Object.freeze(this.buildPeer(p));
      this.peers.set(key, c);
    }
    return c;
  }

  private buildPeer(p: PeerSpec): CompiledPeer {
    const endpoints = new Uint8Array(this.endpoints.length);
    let world = p.world;
    if (p.cluster) endpoints.fill(1);
    for (const sel of p.selectors) {
      const b = this.bits(sel);
      for (let i = 0; i < b.length; i++) if (b[i] === 1) endpoints[i] = 1;
      // A selector on reserved labels (e.g. reserved:world) may select the world identity.
      if (!world && selectorMatches(sel, WORLD_IDENTITY)) world = true;
    }
    let fqdnMatcher: RE2 | "none" = "none";
    if (p.fqdns.length > 0) {
      try {
        fqdnMatcher = asRe(compileNameMatcher(p.fqdns, "to-fqdns"));
      } catch (err) {
        this.warn(`toFQDNs: ${(err as Error).message}; the selectors match nothing`);
      }
    }
    return { all: p.all, endpoints, world, cidrs: p.cidrs, fqdn: fqdnMatcher };
  }
}

function asRe(m: RE2 | "all" | "none"): RE2 | "none" {
  return m === "all" ? "none" : m;
}

/** A rule whose regex RE2 rejects can never match: the validator reports it, we fail closed. */
const NEVER_HTTP: HttpRuleMatcher = Object.freeze({
  method: null,
  path: null,
  host: null,
  pathPrefix: "",
  methodLiteral: null,
  checks: [{ nameLower: "", value: null, never: true }],
  actions: [],
});

/**
 * The lookup a rule's headerMatches use, after warning (by reference, never by value) about
 * every Secret that is not available and what the match does instead.
 */
function secretLookupFor(
  rule: PortRuleHTTP,
  namespace: string,
  secrets: ReadonlyMap<string, string> | undefined,
  warn: (m: string) => void,
): SecretLookup {
  const lookup: SecretLookup = (ref) => {
    const ns = ref.namespace || namespace;
    return ns === "" ? undefined : secrets?.get(`${ns}/${ref.name}`);
  };
  (rule.headerMatches ?? []).forEach((h, j) => {
    if (h.secret === undefined) return;
    const value = lookup(h.secret);
    if (value !== undefined && value !== "") return;
    const ns = h.secret.namespace || namespace;
    const why =
      ns === ""
        ? `secret ${h.secret.name} has no namespace, which a cluster-wide policy must give`
        : secrets === undefined
          ? `secret ${ns}/${h.secret.name} is not available: Secrets are read only by run --kubernetes (check takes --secret)`
          : `secret ${ns}/${h.secret.name} is not available (missing, unreadable, empty, or not exactly one item)`;
    const fallback = (h.value ?? "") !== "" ? "the inline value is used instead" : "this rule never matches (fail closed)";
    warn(`headerMatches[${j}]: ${why}; ${fallback}`);
  });
  return lookup;
}

function compileL7(e: IrEntry, warn: (m: string) => void, secrets: ReadonlyMap<string, string> | undefined): CompiledL7 | null {
  const l7 = e.l7;
  if (l7 === null) return null;
  const where = `${e.origin.policy} rule ${e.origin.ruleIndex}: ${e.origin.path}`;
  switch (l7.kind) {
    case "http":
      return {
        kind: "http",
        rules: l7.rules.map((r, i) => {
          const lookup = secretLookupFor(r, l7.namespace, secrets, (m) => warn(`${where}.rules.http[${i}].${m}`));
          try {
            return compileHttpRule(r, lookup);
          } catch (err) {
            warn(`${where}.rules.http[${i}]: ${(err as Error).message}; the rule never matches`);
            return NEVER_HTTP;
          }
        }),
      };
    case "kafka":
      return { kind: "kafka", rules: l7.rules.map(compileKafkaRule) };
    case "dns":
      try {
        return { kind: "dns", matcher: compileNameMatcher(l7.rules, "dns-proxy") };
      } catch (err) {
        warn(`${where}.rules.dns: ${(err as Error).message}; the rules never match`);
        return { kind: "dns", matcher: "none" };
      }
  }
}

export { fqdn };
