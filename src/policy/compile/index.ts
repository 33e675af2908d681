// compilePolicies: loaded policies + endpoint inventory -> immutable PolicySnapshot.
// Steps: policies to the intermediate form (implied namespaces, defaults, unsupported features
// dropped with warnings), endpoints to identities, rules to the endpoints they select, then one
// SideTable per distinct set of selecting rules and direction.

import type { LoadedPolicy } from "../api/types.js";
import type { Direction, PolicySnapshot } from "../decision.js";
import type { EndpointInventory, NamespaceInfo } from "../endpoints/types.js";
import { endpointIdentity, type Identity, identityKey } from "../labels/identity.js";
import { canonicalIp } from "../net/ip.js";
import { selectorMatches } from "../selectors/label-selector.js";
import { CompiledPolicySnapshot } from "../snapshot/policy-snapshot.js";
import { type CompileContext, ciliumPolicyToIr } from "./cilium-rule.js";
import { type CompiledEntry, EntryCompiler } from "./compiled-entry.js";
import { ALL_PORTS, type IrRule } from "./ir.js";
import { networkPolicyToIr } from "./network-policy.js";
import { SideTable } from "./side-table.js";

export interface CompileOptions {
  revision?: number;
  /** Cilium's cluster-name; peers are confined to it by default. Default "default". */
  clusterName?: string;
  /**
   * The values of the Kubernetes Secrets that headerMatches refer to, by "namespace/name"
   * (KubernetesState.secrets). A reference without a namespace means the policy's. Without
   * this option no Secret is available: such matches use their inline value, or never match.
   */
  secrets?: ReadonlyMap<string, string>;
  /**
   * This node (`run --node-name`). An endpoint whose nodeName names another node is remote:
   * it is still an identity (so rules can select it as a peer), but neither of its sides is
   * enforced here, because that node's proxy enforces them (Cilium: egress at the source
   * node, ingress at the destination node). Endpoints without nodeName are local. Absent:
   * every endpoint is local (a single node).
   */
  nodeName?: string;
}

export interface CompileResult {
  snapshot: PolicySnapshot & CompiledPolicySnapshot;
  warnings: string[];
}

export function policiesToIr(policies: readonly LoadedPolicy[], ctx: CompileContext): IrRule[] {
  const out: IrRule[] = [];
  for (const p of policies) {
    if (p.kind === "NetworkPolicy") out.push(networkPolicyToIr(p, ctx));
    else out.push(...ciliumPolicyToIr(p, ctx));
  }
  return out;
}

function buildTable(rules: readonly IrRule[], d: Direction, compiler: EntryCompiler, warn: (m: string) => void): SideTable | null {
  const present = rules.filter((r) => r[d].present);
  if (present.length === 0) return null;
  const defaultDeny = present.some((r) => r[d].defaultDeny);
  const entries: CompiledEntry[] = present.flatMap((r) => r[d].entries.map((e) => compiler.compile(e)));
  if (!defaultDeny) {
    // Only default-allow rules select this endpoint here: Cilium synthesizes a wildcard allow,
    // which also makes L7 rules allow everything (while keeping traffic visible).
    const first = present[0] as IrRule;
    entries.push(
      compiler.wildcard(
        { policy: first.origin.policy, ruleIndex: first.origin.ruleIndex, path: `enableDefaultDeny.${d}=false (allow all)` },
        ALL_PORTS,
      ),
    );
  }
  const table = new SideTable(entries, true, defaultDeny);
  for (const port of table.conflictingPorts()) {
    warn(
      `${d} of the endpoints selected by ${[...new Set(present.map((r) => r.origin.policy))].join(", ")}: ` +
        `port ${port} has L7 rules of more than one protocol; connections whose rules name different protocols are denied`,
    );
  }
  return table;
}

/**
 * Each endpoint's identity key, from the inventory (a closure of its own, so the snapshot
 * keeps no compile-time state alive: identities, the entry compiler).
 */
function identityKeys(endpoints: EndpointInventory["endpoints"], nsByName: ReadonlyMap<string, NamespaceInfo>, clusterName: string): (i: number) => string {
  return (i) => {
    const e = endpoints[i]!;
    return identityKey(endpointIdentity(e, nsByName.get(e.namespace), clusterName));
  };
}

export function compilePolicies(policies: LoadedPolicy[], inventory: EndpointInventory, opts: CompileOptions = {}): CompileResult {
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
  };
  const clusterName = opts.clusterName ?? "default";
  let nextRule = 0;
  const ir = policiesToIr(policies, { clusterName, nextRuleId: () => nextRule++, warn });

  const nsByName = new Map(inventory.namespaces.map((n) => [n.name, n]));
  const endpoints = inventory.endpoints;
  const identities: Identity[] = endpoints.map((e) => endpointIdentity(e, nsByName.get(e.namespace), clusterName));
  const ipIndex = new Map<string, number>();
  endpoints.forEach((e, i) => {
    for (const ip of e.ips) {
      const key = canonicalIp(ip) ?? ip;
      const prev = ipIndex.get(key);
      if (prev !== undefined) {
        const other = endpoints[prev] as (typeof endpoints)[number];
        warn(`endpoint ${e.namespace}/${e.name}: IP ${ip} already belongs to ${other.namespace}/${other.name}; the first one keeps it`);
        continue;
      }
      ipIndex.set(key, i);
    }
  });

  const compiler = new EntryCompiler(endpoints, identities, warn, opts.secrets);
  const tables: Record<Direction, (SideTable | null)[]> = { ingress: [], egress: [] };
  const shared: Record<Direction, Map<string, SideTable | null>> = { ingress: new Map(), egress: new Map() };
  const isRemote = (i: number): boolean => {
    const node = endpoints[i]?.nodeName;
    return opts.nodeName !== undefined && node !== undefined && node !== opts.nodeName;
  };
  identities.forEach((id, i) => {
    if (isRemote(i)) {
      tables.ingress.push(null);
      tables.egress.push(null);
      return;
    }
    const selecting = ir.filter((r) => selectorMatches(r.subject, id));
    for (const d of ["ingress", "egress"] as const) {
      const key = selecting.filter((r) => r[d].present).map((r) => r.id).join(",");
      let t = shared[d].get(key);
      if (t === undefined && !shared[d].has(key)) {
        t = buildTable(selecting, d, compiler, warn);
        shared[d].set(key, t);
      }
      tables[d].push(t ?? null);
    }
  });

  const snapshot = new CompiledPolicySnapshot({
    revision: opts.revision ?? 1,
    endpoints,
    identityKeyOf: identityKeys(endpoints, nsByName, clusterName),
    ipIndex,
    ingress: tables.ingress,
    egress: tables.egress,
    warnings,
  });
  return { snapshot, warnings: [...new Set(warnings)] };
}
