// What the DNS proxy needs from the rest of the process: somewhere to report what it did
// (telemetry), and somewhere to put what answers taught it (the learned-name cache, whose
// owner also makes sure the policy allowing the new addresses is in force before the answer
// is released).

import type { FlowQuery, FlowVerdict, L7Verdict } from "../../policy/decision.js";

export interface DnsDetail {
  protocol: "dns";
  /** The question's name, fully qualified, lower case. */
  query: string;
  qtypes: string[];
  rcode: string;
  ips: string[];
  ttl: number | null;
  transport: "udp" | "tcp";
}

export interface DnsExchange {
  flow: FlowVerdict;
  query: FlowQuery;
  verdict: L7Verdict;
  proxyLatencySeconds: number;
  upstreamLatencySeconds: number | undefined;
  startedAtMs: number | undefined;
  detail: DnsDetail;
}

export interface DnsReporter {
  exchange(ex: DnsExchange): void;
  /** A query (or answer) the proxy could not read; `reason` for the debug log. */
  malformed(transport: "udp" | "tcp", reason: string): void;
  upstreamTimeout(transport: "udp" | "tcp"): void;
  sendError(transport: "udp" | "tcp", reason: string): void;
  /** A DNS datagram whose flow L3/L4 policy denies (dropped). */
  l4Denied(flow: FlowVerdict, q: FlowQuery): void;
}

export interface FqdnLearning {
  /**
   * Records an answer's addresses for `name`. Returns null when the policy that allows them
   * is already in force, or a promise that settles once it is (bounded by the hold time):
   * the answer must wait for it, so a client that connects at once is not dropped.
   */
  learn(name: string, ips: readonly string[], ttlSeconds: number): Promise<void> | null;
}

export const NO_DNS_REPORTER: DnsReporter = {
  exchange() {},
  malformed() {},
  upstreamTimeout() {},
  sendError() {},
  l4Denied() {},
};
