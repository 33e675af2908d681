// What the data path reports as it works. The telemetry module implements this; tests and
// benchmarks can pass a no-op. Kept as an interface so the hot path does not depend on
// prom-client or pino directly.
//
// Every L7 request of every protocol is reported the same way, as an L7Exchange: what all
// protocols share (the flow, the verdict, the proxy's and the upstream's time) and a detail
// only its protocol knows. Telemetry routes the detail to that protocol's metrics and record
// part (src/telemetry/protocols/).

import type { ErrorCode } from "../errors/codes.js";
import type { FlowQuery, FlowVerdict, L7Verdict } from "../policy/decision.js";

export interface GrpcDetail {
  service: string;
  method: string;
  /** grpc-status from the trailers (or the trailers-only response); null when none came. */
  status: number | null;
}

export interface HttpDetail {
  protocol: "http";
  method: string;
  url: string;
  host: string;
  version: "HTTP/1.0" | "HTTP/1.1" | "HTTP/2";
  /** Status sent to the client: 403 for denied requests, the upstream's status otherwise; 0 if none was sent. */
  status: number;
  headers?: [string, string][];
  grpc?: GrpcDetail;
}

export interface KafkaDetail {
  protocol: "kafka";
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  topics: string[];
  /** The error code answered for a denied request (29 and the like); 0 when forwarded. */
  errorCode: number;
}

export interface DnsDetail {
  protocol: "dns";
  /** The question's name, fully qualified (trailing dot), lower case. */
  query: string;
  qtypes: string[];
  /** NOERROR, NXDOMAIN, REFUSED, SERVFAIL, ... */
  rcode: string;
  ips: string[];
  /** Lowest TTL of the answer, seconds; null without one. */
  ttl: number | null;
  transport: "udp" | "tcp";
}

export type L7Detail = HttpDetail | KafkaDetail | DnsDetail;

export interface L7Exchange<D extends L7Detail = L7Detail> {
  flow: FlowVerdict;
  query: FlowQuery;
  /** `allowed` says whether it was forwarded; `audit` that the policy denied it (audit mode). */
  verdict: L7Verdict;
  /** Time the proxy itself added (parse + decide + write), in seconds. */
  proxyLatencySeconds: number;
  /** Time from forwarding the request to the first byte of the upstream's answer. */
  upstreamLatencySeconds: number | undefined;
  /**
   * performance.now() when the request was complete. Telemetry's rate limits use it as their
   * clock, so a request costs no clock read of its own; undefined, Telemetry reads one.
   */
  startedAtMs: number | undefined;
  detail: D;
}

export interface DatapathObserver {
  connectionOpened(): void;
  connectionClosed(bytesIn: number, bytesOut: number): void;
  /** `audited`: a denied flow that policy audit mode lets through (recorded as AUDIT). */
  l4Verdict(flow: FlowVerdict, q: FlowQuery, audited: boolean): void;
  /** May keep `ex` (flow records are built from it later): do not change it after the call. */
  l7Request(ex: L7Exchange): void;
  /** A request or frame refused as malformed or too large. */
  parseError(code: ErrorCode): void;
  /** A connection that ended abnormally: upstream failure, timeout, bad upstream response, internal error. */
  connectionError(code: ErrorCode, detail: string): void;
  upstreamConnectFailure(): void;
}

export const NO_OBSERVER: DatapathObserver = {
  connectionOpened() {},
  connectionClosed() {},
  l4Verdict() {},
  l7Request() {},
  parseError() {},
  connectionError() {},
  upstreamConnectFailure() {},
};
