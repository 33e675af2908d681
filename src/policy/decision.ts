// The contract between the compiled policy snapshot and everything that asks it questions:
// the data path (per connection and per request), `l7proxy check`, and flow records.
// Everything here is plain data so it can be logged, serialised to JSON and compared in tests.

export type Protocol = "TCP" | "UDP" | "SCTP";
export type Direction = "ingress" | "egress";

/** One side of a flow as the engine resolved it. */
export interface Peer {
  ip: string;
  /** Present when the IP belongs to a known endpoint. */
  endpoint?: { namespace: string; name: string; workload: string; labels: Record<string, string> };
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
  allowed: boolean;
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

export interface PolicySnapshot {
  readonly revision: number;
  decideFlow(q: FlowQuery): FlowVerdict;
  decideHttp(flow: FlowVerdict, q: FlowQuery, req: HttpRequestFacts): L7Verdict;
  decideKafka(flow: FlowVerdict, q: FlowQuery, req: KafkaRequestFacts): L7Verdict;
  decideDns(flow: FlowVerdict, q: FlowQuery, req: DnsQueryFacts): L7Verdict;
  /** Endpoint IPs whose ingress / egress is enforced: what the interception rules redirect. */
  enforcedIps(): { ingress: string[]; egress: string[] };
}
