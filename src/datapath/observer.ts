// What the data path reports as it works. The telemetry module implements this; tests and
// benchmarks can pass a no-op. Kept as an interface so the hot path does not depend on
// prom-client or pino directly.

import type { ErrorCode } from "../errors/codes.js";
import type { FlowQuery, FlowVerdict, L7Verdict } from "../policy/decision.js";

export interface HttpExchange {
  flow: FlowVerdict;
  query: FlowQuery;
  verdict: L7Verdict;
  method: string;
  url: string;
  host: string;
  protocol: "HTTP/1.0" | "HTTP/1.1" | "HTTP/2";
  /** Status sent to the client: 403 for denied requests, the upstream's status otherwise. */
  status: number;
  /** Time the proxy itself added (parse + decide + write), in seconds. */
  proxyLatencySeconds: number;
  /** Time from forwarding the request to the first byte of the upstream response. */
  upstreamLatencySeconds?: number;
  /**
   * performance.now() when the request head was complete. Telemetry's rate limits use it as
   * their clock, so a request costs no clock read of its own; absent, Telemetry reads one.
   */
  startedAtMs?: number;
  headers?: [string, string][];
}

export interface DatapathObserver {
  connectionOpened(): void;
  connectionClosed(bytesIn: number, bytesOut: number): void;
  l4Verdict(flow: FlowVerdict, q: FlowQuery): void;
  /** May keep `ex` (flow records are built from it later): do not change it after the call. */
  httpRequest(ex: HttpExchange): void;
  parseError(code: ErrorCode): void;
  upstreamConnectFailure(): void;
}

export const NO_OBSERVER: DatapathObserver = {
  connectionOpened() {},
  connectionClosed() {},
  l4Verdict() {},
  httpRequest() {},
  parseError() {},
  upstreamConnectFailure() {},
};
