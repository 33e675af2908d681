// The intermediate form both policy kinds compile to before endpoints are known: Cilium rules
// and Kubernetes NetworkPolicies become the same list of subject + per-direction entries, with
// every implied namespace, cluster and default already applied. Nothing here depends on the
// endpoint inventory, so it is built once per policy set.

import type { FQDNSelector, PortRuleHTTP, PortRuleKafka, PortRuleDNS } from "../api/types.js";
import type { Protocol } from "../decision.js";
import type { CidrRange } from "../net/ip.js";
import type { LabelSelector } from "../selectors/label-selector.js";

export interface CidrPeer {
  range: CidrRange;
  except: CidrRange[];
}

/** Who an entry applies to on the other side of the flow. Members are OR-ed. */
export interface PeerSpec {
  /** Every identity, world included (L3 omitted with toPorts, `all` entity, KNP without from/to). */
  all: boolean;
  /** Endpoint selectors, with namespace and cluster already implied. */
  selectors: LabelSelector[];
  /** reserved:world: every address that is no endpoint's. */
  world: boolean;
  /** Every endpoint of the local cluster (`cluster` entity). */
  cluster: boolean;
  /** Addresses outside the cluster's endpoints, by CIDR. */
  cidrs: CidrPeer[];
  /** toFQDNs: addresses a DNS answer associated with a matching name. */
  fqdns: FQDNSelector[];
}

export interface PortRange {
  protocol: Protocol;
  lo: number;
  hi: number;
}

export type L7Spec =
  /** `namespace`: the policy's ("" cluster-wide), the default for headerMatches secret references. */
  | { kind: "http"; rules: PortRuleHTTP[]; namespace: string }
  | { kind: "kafka"; rules: PortRuleKafka[] }
  | { kind: "dns"; rules: PortRuleDNS[] };

export interface RuleOrigin {
  /** policyRef: "namespace/name" or "name". */
  policy: string;
  ruleIndex: number;
  /** Field path of the port rule or peer inside the policy, for explanations. */
  path: string;
}

export interface IrEntry {
  deny: boolean;
  peer: PeerSpec;
  ports: PortRange[];
  /** null: the entry allows every request on its ports (L3/L4 only). */
  l7: L7Spec | null;
  origin: RuleOrigin;
}

export interface IrDirection {
  /** The rule selects its subjects in this direction (they become enforced). */
  present: boolean;
  /** Whether this rule asks for default deny in this direction (enableDefaultDeny). */
  defaultDeny: boolean;
  entries: IrEntry[];
}

export interface IrRule {
  id: number;
  origin: RuleOrigin;
  subject: LabelSelector;
  ingress: IrDirection;
  egress: IrDirection;
}

export const ALL_PROTOCOLS: readonly Protocol[] = ["TCP", "UDP", "SCTP"];
export const ALL_PORTS: readonly PortRange[] = ALL_PROTOCOLS.map((protocol) => ({ protocol, lo: 0, hi: 65535 }));

export function emptyPeer(): PeerSpec {
  return { all: false, selectors: [], world: false, cluster: false, cidrs: [], fqdns: [] };
}
