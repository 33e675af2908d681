// The Cilium policy API as it appears in CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy
// manifests (cilium.io/v2), plus networking.k8s.io/v1 NetworkPolicy. Field names and shapes
// follow the CRD JSON exactly, so a validated manifest can be typed as these interfaces
// without any renaming. Semantics live in src/policy/compile; this file is shape only.

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface EndpointSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface CIDRRule {
  cidr?: string;
  cidrGroupRef?: string;
  cidrGroupSelector?: EndpointSelector;
  except?: string[];
}

export interface PortProtocol {
  /** Number as string ("80"), IANA name ("http"), or "0" for all ports. */
  port?: string;
  endPort?: number;
  protocol?: "TCP" | "UDP" | "SCTP" | "ANY" | string;
}

export interface HeaderMatch {
  name: string;
  value?: string;
  secret?: { namespace?: string; name: string };
  mismatch?: "LOG" | "ADD" | "DELETE" | "REPLACE";
}

export interface PortRuleHTTP {
  path?: string;
  method?: string;
  host?: string;
  headers?: string[];
  headerMatches?: HeaderMatch[];
}

export interface PortRuleKafka {
  role?: string;
  apiKey?: string;
  apiVersion?: string;
  clientID?: string;
  topic?: string;
}

export interface FQDNSelector {
  matchName?: string;
  matchPattern?: string;
}

export type PortRuleDNS = FQDNSelector;

export interface L7Rules {
  http?: PortRuleHTTP[];
  kafka?: PortRuleKafka[];
  dns?: PortRuleDNS[];
  l7proto?: string;
  l7?: Record<string, string>[];
}

export interface PortRule {
  ports?: PortProtocol[];
  rules?: L7Rules;
  terminatingTLS?: unknown;
  originatingTLS?: unknown;
  serverNames?: string[];
  listener?: unknown;
}

/** Deny port rules carry no L7 section. */
export interface PortDenyRule {
  ports?: PortProtocol[];
}

export interface ICMPRule {
  fields?: { type: number | string; family?: string }[];
}

interface PeerCommon {
  icmps?: ICMPRule[];
  authentication?: { mode: string };
}

export interface IngressRule extends PeerCommon {
  fromEndpoints?: EndpointSelector[];
  fromRequires?: EndpointSelector[];
  fromCIDR?: string[];
  fromCIDRSet?: CIDRRule[];
  fromEntities?: string[];
  fromGroups?: unknown[];
  fromNodes?: EndpointSelector[];
  toPorts?: PortRule[];
}

export interface IngressDenyRule extends Omit<IngressRule, "toPorts"> {
  toPorts?: PortDenyRule[];
}

export interface EgressRule extends PeerCommon {
  toEndpoints?: EndpointSelector[];
  toRequires?: EndpointSelector[];
  toCIDR?: string[];
  toCIDRSet?: CIDRRule[];
  toEntities?: string[];
  toServices?: unknown[];
  toFQDNs?: FQDNSelector[];
  toGroups?: unknown[];
  toNodes?: EndpointSelector[];
  toPorts?: PortRule[];
}

export interface EgressDenyRule extends Omit<EgressRule, "toPorts" | "toFQDNs"> {
  toPorts?: PortDenyRule[];
}

export interface Rule {
  endpointSelector?: EndpointSelector;
  nodeSelector?: EndpointSelector;
  ingress?: IngressRule[];
  ingressDeny?: IngressDenyRule[];
  egress?: EgressRule[];
  egressDeny?: EgressDenyRule[];
  labels?: { key: string; value?: string; source?: string }[];
  description?: string;
  enableDefaultDeny?: { ingress?: boolean; egress?: boolean };
  log?: { value?: string };
}

// ---- networking.k8s.io/v1 NetworkPolicy ----

export interface K8sLabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface NetworkPolicyPeer {
  podSelector?: K8sLabelSelector;
  namespaceSelector?: K8sLabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicyPort {
  protocol?: "TCP" | "UDP" | "SCTP";
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicySpec {
  podSelector: K8sLabelSelector;
  ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  egress?: { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  policyTypes?: ("Ingress" | "Egress")[];
}

// ---- What the loader hands to the compiler ----

export type PolicyKind = "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy" | "NetworkPolicy";

/** Where a manifest (or a value inside it) came from, for diagnostics and flow records. */
export interface SourceLocation {
  file: string;
  line: number;
  col: number;
}

interface LoadedPolicyBase {
  name: string;
  /** "" for cluster-wide policies; "default" when a namespaced manifest omits it. */
  namespace: string;
  source: SourceLocation;
  /** Resolves a field path inside this document (e.g. "specs[1].ingress[0]") to a location. */
  locate?: (fieldPath: string) => SourceLocation;
}

export interface LoadedCiliumPolicy extends LoadedPolicyBase {
  kind: "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy";
  /** `spec` first (if present) then `specs` in order; rule indexes refer to this array. */
  rules: Rule[];
}

export interface LoadedNetworkPolicy extends LoadedPolicyBase {
  kind: "NetworkPolicy";
  spec: NetworkPolicySpec;
}

export type LoadedPolicy = LoadedCiliumPolicy | LoadedNetworkPolicy;

/** "namespace/name" for namespaced policies, "name" for cluster-wide ones. */
export function policyRef(p: Pick<LoadedPolicyBase, "namespace" | "name">): string {
  return p.namespace === "" ? p.name : `${p.namespace}/${p.name}`;
}
