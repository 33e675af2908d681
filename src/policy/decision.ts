// The contract between the compiled policy snapshot and everything that asks it questions:
// the data path (per connection and per request), `l7proxy check`, and flow records.
// Everything here is plain data so it can be logged, serialised to JSON and compared in tests.

export type Protocol = "TCP" | "UDP" | "SCTP";
export type Direction = "ingress" | "egress";

/** One side of a flow as the engine resolved it. */
export interface Peer {
  ip: string;
  /**
   * Present when the IP belongs to a known endpoint. `identity`: its security identity as one
   * string (identity.ts identityKey; the pods of one workload share it), from the snapshot.
   */
  endpoint?: { namespace: string; name: string; workload: string; labels: Record<string, string>; identity?: string };
  /** Reserved identity for non-endpoint IPs: "world", "host", ... */
  reserved?: string;
}

/** What decided one side (egress of the source, or ingress of the destination). */
export type DecidedBy =
  | { kind: "policy"; policy: string; ruleIndex: number; action: "allow" | "deny"; layer: "l3-l4" | "l7" }
  /**
   * Nothing allowed it. At L7, `policies` names the policies whose L7 rules govern the port
   * (none of which matched the request): the ones an app team looks at for the denial.
   */
  | { kind: "default-deny"; policies?: readonly string[] }
  /** No policy selects this endpoint in this direction (or the peer is not an endpoint). */
  | { kind: "not-enforced" };

export interface SideVerdict {
  direction: Direction;
  enforced: boolean;
  allowed: boolean;
  decidedBy: DecidedBy;
}

export interface FlowQuery {
  srcIp: string;
  dstIp: string;
  dstPort: number;
  protocol: Protocol;
  /** The client's port; policy never depends on it, flow records show it when known. */
  srcPort?: number;
  /** IPs a DNS answer taught the proxy for FQDN names (toFQDNs); name -> IPs. */
  fqdnIps?: ReadonlyMap<string, readonly string[]>;
  /**
   * The names DNS answers gave for dstIp, already looked up (the data path's learned-name
   * cache); when present, fqdnIps is not consulted.
   */
  dstNames?: readonly string[];
}

export type L7Protocol = "http" | "kafka" | "dns";

export interface FlowVerdict {
  allowed: boolean;
  source: Peer;
  destination: Peer;
  egress: SideVerdict;
  ingress: SideVerdict;
  /**
   * Set when the flow is allowed at L3/L4 and at least one side has L7 rules for it: every
   * request on the connection must then be decided by the matching decide* method below.
   * The snapshot settles one protocol per connection: a side whose matching rules name two
   * L7 protocols for the port, or an egress side and an ingress side that name different
   * ones, deny the flow (no parser could serve both).
   */
  l7: L7Protocol | null;
}

/** An HTTP request as the matcher sees it; names passed to `header` are lower case. */
export interface HttpRequestFacts {
  method: string;
  /** The request target (path and query) after Envoy-style path normalization; the query as sent. */
  path: string;
  /** The Host header (HTTP/1) or :authority (HTTP/2), port included; "" if absent. */
  host: string;
  /** All values of a header joined with ",", or undefined when absent. */
  header(nameLower: string): string | undefined;
}

/**
 * headerMatches mismatch actions to apply to the forwarded request, in order. `secret` marks a
 * value read from a Kubernetes Secret: forward it, but print it only as "[redacted]".
 */
export type HeaderOp =
  | { op: "add"; name: string; value: string; secret?: true }
  | { op: "delete"; name: string }
  | { op: "replace"; name: string; value: string; secret?: true };

export interface L7Verdict {
  /** Whether the data path forwards the request (true for an audited denial). */
  allowed: boolean;
  /**
   * Policy audit mode: the policy denies this request, but it was forwarded; records show the
   * verdict AUDIT and name the policy that would have denied it (egress/ingress keep the
   * would-be verdicts).
   */
  audit?: true;
  egress: SideVerdict;
  ingress: SideVerdict;
  headerOps: HeaderOp[];
  /** headerMatches LOG (and other) notes: header names that were missing or mismatched. */
  logs: string[];
}

export interface KafkaRequestFacts {
  apiKey: number;
  apiVersion: number;
  clientId: string | null;
  /** Topics named by the request; null when the request names none (or "all topics"). */
  topics: readonly string[] | null;
}

export interface DnsQueryFacts {
  qname: string;
}

/** Protocols whose L3/L4 policy the kernel enforces by itself (TCP goes to the proxy). */
export type DatagramProtocol = "UDP" | "SCTP";

/**
 * One non-TCP rule of one enforced endpoint address in one direction, for the kernel's own
 * filter. A packet matches when its local address (the destination for ingress, the source
 * for egress) is `ip`, its protocol is `protocol`, its destination port is in
 * [portLo, portHi], and its peer (the other side) is in `endpointPeers` when the peer is one
 * of NonTcpPolicy.endpointIps, or in `otherPeers` when it is not: as in decideFlow, CIDR
 * and `world` peers never match an endpoint's address. Within one list, rules of the same
 * ip, direction and protocol have disjoint port ranges, and peers are disjoint CIDRs.
 */
export interface NonTcpRule {
  ip: string;
  direction: Direction;
  protocol: DatagramProtocol;
  portLo: number;
  portHi: number;
  /** CIDRs (host prefixes for single endpoints, 0.0.0.0/0 or ::/0 for every endpoint). */
  endpointPeers: string[];
  /** CIDRs of addresses that are no endpoint's (`world` is 0.0.0.0/0 and ::/0). */
  otherPeers: string[];
}

/**
 * The non-TCP L3/L4 policy, for enforcing in the kernel what decideFlow would decide for UDP
 * and SCTP flows. A packet to an ingress-enforced or from an egress-enforced address
 * (enforcedIps) passes a side when it matches no `deny` rule and some `allow` rule of that
 * side; everything else to or from those addresses (ICMP included) is dropped. L7 rules
 * cannot be applied to datagrams: a port whose allowing entries carry DNS rules is allowed
 * only when they allow every name (or an L3/L4-only entry allows it too). toFQDNs peers
 * select nothing here (no DNS-learnt addresses).
 */
export interface NonTcpPolicy {
  /** Every endpoint address (canonical), enforced or not: what decides which peer list applies. */
  endpointIps: string[];
  allow: NonTcpRule[];
  deny: NonTcpRule[];
}

export interface PolicySnapshot {
  readonly revision: number;
  decideFlow(q: FlowQuery): FlowVerdict;
  decideHttp(flow: FlowVerdict, q: FlowQuery, req: HttpRequestFacts): L7Verdict;
  decideKafka(flow: FlowVerdict, q: FlowQuery, req: KafkaRequestFacts): L7Verdict;
  decideDns(flow: FlowVerdict, q: FlowQuery, req: DnsQueryFacts): L7Verdict;
  /** Endpoint IPs whose ingress / egress is enforced: what the interception rules redirect. */
  enforcedIps(): { ingress: string[]; egress: string[] };
  /**
   * The UDP/SCTP allowances and denials of the enforced addresses, for the kernel's filter.
   * `fqdnIps` gives the addresses learnt for the names a toFQDNs selector matches.
   */
  nonTcpPolicy(fqdnIps?: (matches: (name: string) => boolean) => readonly string[]): NonTcpPolicy;
  /** Whether a toFQDNs peer has UDP or SCTP ports: learnt names then change nonTcpPolicy. */
  hasDatagramFqdnPeers(): boolean;
  /**
   * The (endpoint address, UDP port) pairs whose DNS queries the DNS proxy must see: ports of
   * the endpoint's egress DNS rules, and 53 for an endpoint with toFQDNs peers.
   */
  dnsRedirects(): DnsRedirect[];
}

export interface DnsRedirect {
  ip: string;
  port: number;
}
