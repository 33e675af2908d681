// What runHttp1Session needs from its caller, what it reports, and its defaults.

import type { Socket } from "node:net";
import { defaultRunConfig } from "../../config/run-config.js";
import type { ErrorCode } from "../../errors/codes.js";
import type { HeaderOp } from "../../policy/decision.js";
import type { RequestHead } from "./request-head.js";

import type { UpstreamOnRead } from "../protocol-handler.js";

export type { UpstreamOnRead };

/** The part of a verdict the session acts on; the policy engine's L7Verdict is one. */
export interface HttpDecision {
  allowed: boolean;
  headerOps?: readonly HeaderOp[];
  logs?: readonly string[];
}

/** One request, reported once its answer has been sent (or the connection died first). */
export interface Http1RequestRecord<V extends HttpDecision = HttpDecision> {
  verdict: V;
  allowed: boolean;
  method: string;
  /** The request target as forwarded: as sent, or normalized when normalization changed it. */
  url: string;
  host: string;
  protocol: "HTTP/1.0" | "HTTP/1.1";
  /** Status sent to the client: 403 when denied, the upstream's (final) status when allowed, 0 when none was sent. */
  status: number;
  /** From the complete head to the request head being handed to the upstream socket (parse + decide + write). */
  proxyLatencySeconds: number;
  /** From forwarding the head to the first byte of the final response head. */
  upstreamLatencySeconds?: number;
  /** performance.now() when the complete head was read (reused by telemetry as its clock). */
  startedAtMs: number;
  /** Header ops that were not applied (framing headers), with why. */
  skippedHeaderOps?: string[];
}

export interface Http1SessionOptions<V extends HttpDecision = HttpDecision> {
  /**
   * Opens the connection to the original destination; called at most once, on the first
   * allowed request. Pass `onread` on to net.connect: the session then reads the upstream
   * into a buffer it reuses (no allocation and no stream machinery per read). A socket
   * opened without it works too, through 'data' events.
   */
  connectUpstream: (onread?: UpstreamOnRead) => Socket;
  /** Decides one request. Throwing closes the connection (fail closed). The head implements HttpRequestFacts. */
  decide: (req: RequestHead) => V;
  onRequest?: (rec: Http1RequestRecord<V>) => void;
  /** A request the proxy refused to parse (answered 400/431/505 and closed). */
  onParseError?: (code: ErrorCode) => void;
  /** The connection ended abnormally: upstream failure, timeout, bad upstream response, internal error. */
  onConnectionError?: (code: ErrorCode, detail: string) => void;
  /** While true, the connection closes after the request in progress instead of taking more. */
  draining?: () => boolean;
  /** Time allowed for a request head to arrive once its first byte has (slow clients). */
  headerTimeoutMs?: number;
  /** Time without a byte in either direction before the connection is closed. */
  idleTimeoutMs?: number;
  /**
   * From the end of a forwarded request to the end of its response (Envoy's route timeout);
   * past it the client gets 504, or the connection is cut if the response had started. 0 turns it off.
   */
  requestTimeoutMs?: number;
  maxHeaderBytes?: number;
  maxRequestLineBytes?: number;
  maxHeaders?: number;
  /** Requests decided but not yet answered before the proxy stops reading from the client. */
  maxPipelined?: number;
}

const d = defaultRunConfig();

/** The session's defaults are the run configuration's (src/config/run-config.ts owns them). */
export const SESSION_DEFAULTS = Object.freeze({
  headerTimeoutMs: d.headerTimeoutMs,
  idleTimeoutMs: d.idleTimeoutMs,
  requestTimeoutMs: d.requestTimeoutMs,
  maxHeaderBytes: d.maxHeaderBytes,
  maxRequestLineBytes: d.maxRequestLineBytes,
  maxHeaders: d.maxHeaders,
  maxPipelined: d.maxPipelined,
});
