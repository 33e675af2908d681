// HTTP/1.x behind the protocol seam: runs the HTTP/1 session on the connection, decides each
// request with the connection's policy binding, and reports each one as an L7 record.

import type { HttpDetail, L7Exchange } from "../observer.js";
import type { ConnectionHandle, L7Connection, ProtocolHandler } from "../protocol-handler.js";
import { runHttp1Session } from "./http1-session.js";

export function startHttp1(conn: L7Connection): ConnectionHandle {
  const { binding, observer, config } = conn;
  const session = runHttp1Session(conn.client, {
    connectUpstream: (onread) => conn.connectUpstream(onread),
    decide: (req) => binding.decideHttp(req),
    // Every field named, in one order: one object shape for every request (a spread of
    // records with optional fields makes V8 clone through slow, polymorphic paths).
    onRequest: (ex) => {
      const detail: HttpDetail = { protocol: "http", method: ex.method, url: ex.url, host: ex.host, version: ex.protocol, status: ex.status };
      const rec: L7Exchange<HttpDetail> = {
        flow: binding.flow,
        query: conn.query,
        verdict: ex.verdict,
        proxyLatencySeconds: ex.proxyLatencySeconds,
        upstreamLatencySeconds: ex.upstreamLatencySeconds,
        startedAtMs: ex.startedAtMs,
        detail,
      };
      observer.l7Request(rec);
    },
    onParseError: (code) => observer.parseError(code),
    onConnectionError: (code, detail) => observer.connectionError(code, detail),
    headerTimeoutMs: config.headerTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    maxHeaderBytes: config.maxHeaderBytes,
    maxRequestLineBytes: config.maxRequestLineBytes,
    maxHeaders: config.maxHeaders,
    maxPipelined: config.maxPipelined,
    draining: () => conn.draining(),
  });
  return { drain: () => session.drain() };
}

export const http1Handler: ProtocolHandler = { protocol: "http", start: startHttp1 };
