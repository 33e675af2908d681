// What the DNS proxy needs from the rest of the process: somewhere to report what it did
// (telemetry), and somewhere to put what answers taught it (the learned-name cache, whose
// owner also makes sure the policy allowing the new addresses is in force before the answer
// is released).

import type { FlowQuery, FlowVerdict } from "../../policy/decision.js";
import type { DatapathObserver, DnsDetail, L7Exchange } from "../observer.js";

export type { DnsDetail } from "../observer.js";

export type DnsExchange = L7Exchange<DnsDetail>;

export interface DnsReporter {
  exchange(ex: DnsExchange): void;
  /** A query (or answer) the proxy could not read; `reason` for the debug log. */
  malformed(transport: "udp" | "tcp", reason: string): void;
  upstreamTimeout(transport: "udp" | "tcp"): void;
  sendError(transport: "udp" | "tcp", reason: string): void;
  /** A query that could not be sent to the resolver (SERVFAIL sent): no socket from the client's address, or the send failed. */
  upstreamFailure(transport: "udp" | "tcp", code: "L7P_ERR_UPSTREAM_SOURCE" | "L7P_ERR_UPSTREAM_CONNECT", reason: string): void;
  /** A DNS datagram whose flow L3/L4 policy denies (dropped, or forwarded when audited). */
  l4Denied(flow: FlowVerdict, q: FlowQuery, audited: boolean): void;
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
  upstreamFailure() {},
  l4Denied() {},
};

/** The DNS proxy's reports through the data path's observer (telemetry). */
export function observerReporter(observer: DatapathObserver): DnsReporter {
  return {
    exchange: (ex) => observer.l7Request(ex),
    malformed: () => observer.parseError("L7P_ERR_DNS_MALFORMED"),
    upstreamTimeout: (transport) => observer.connectionError("L7P_ERR_TIMEOUT", `the resolver did not answer a DNS query over ${transport} in time (SERVFAIL sent)`),
    sendError: (transport, reason) => observer.connectionError("L7P_ERR_DNS_REPLY", `a DNS answer over ${transport} could not be sent: ${reason}`),
    upstreamFailure: (transport, code, reason) => observer.connectionError(code, `a DNS query over ${transport} was answered SERVFAIL: ${reason}`),
    l4Denied: (flow, q, audited) => observer.l4Verdict(flow, q, audited),
  };
}
