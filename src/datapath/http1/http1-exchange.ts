// One HTTP/1 request and its answer as the session tracks it, from its decided head to its
// answer being written, and the record reported for it.

import { performance } from "node:perf_hooks";
import type { QueuedExchange } from "../exchange-queue.js";
import type { RequestHead } from "./request-head.js";
import type { Http1RequestRecord, HttpDecision } from "./session-options.js";

export interface Exchange<V> extends QueuedExchange {
  head: RequestHead | null;
  verdict: V | null;
  /** A reply the proxy writes itself; null when the upstream answers. */
  local: Buffer | null;
  /** Close the client connection once this exchange is answered. */
  closeAfter: boolean;
  /** Draining closes a connection the client meant to keep: the answer must say Connection: close. */
  announceClose: boolean;
  status: number;
  /** Bytes of the answer already sent to the client. */
  answered: boolean;
  tHead: number;
  tForwarded: number;
  tFirstByte: number;
  /** Date.now() when the request was forwarded to its end; 0 before (or for a local reply). */
  tEnd: number;
  skipped: string[] | undefined;
}

/** A local reply to no decided request (a request the proxy refused to parse). */
export function localExchange<V>(reply: Buffer, status: number): Exchange<V> {
  return {
    head: null, verdict: null, local: reply, closeAfter: true, announceClose: false, status, answered: false,
    tHead: 0, tForwarded: 0, tFirstByte: 0, tEnd: 0, skipped: undefined,
  };
}

/** Hands the exchange's record to `cb`; exchanges without a decided request are not reported. */
export function reportExchange<V extends HttpDecision>(cb: ((rec: Http1RequestRecord<V>) => void) | undefined, ex: Exchange<V>): void {
  if (cb === undefined || ex.head === null || ex.verdict === null) return;
  const h = ex.head;
  // Optional fields are always present (maybe undefined): one object shape for every record.
  const rec: Http1RequestRecord<V> = {
    verdict: ex.verdict,
    allowed: ex.verdict.allowed,
    method: h.method,
    url: h.forwardTarget ?? h.target,
    host: h.host,
    protocol: h.minorVersion === 0 ? "HTTP/1.0" : "HTTP/1.1",
    status: ex.answered ? ex.status : 0,
    proxyLatencySeconds: ex.tForwarded > 0 ? (ex.tForwarded - ex.tHead) / 1000 : (performance.now() - ex.tHead) / 1000,
    upstreamLatencySeconds: ex.tFirstByte > 0 ? (ex.tFirstByte - ex.tForwarded) / 1000 : undefined,
    startedAtMs: ex.tHead,
    skippedHeaderOps: ex.skipped,
  };
  try {
    cb(rec);
  } catch {
    // Reporting must never break the connection.
  }
}
