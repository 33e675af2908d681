// HTTP/2 (h2c, gRPC included) behind the protocol seam: runs the HTTP/2 session on a
// connection the http entry sniffed as HTTP/2, decides each stream with the connection's
// policy binding, and reports each stream as an L7 record (version "HTTP/2", and for gRPC the
// service, method and grpc-status).

import type { GrpcDetail, HttpDetail, L7Exchange } from "../observer.js";
import type { ConnectionHandle, L7Connection } from "../protocol-handler.js";
import { runHttp2Session } from "./http2-session.js";
import { http2SettingsOf } from "./session-settings.js";

/** `head`: the bytes the sniffer read (the preface, and whatever came with it). */
export function startHttp2(conn: L7Connection, head: Buffer): ConnectionHandle {
  const { binding, observer, query } = conn;
  const host = query.dstIp.includes(":") ? `[${query.dstIp}]` : query.dstIp;
  const session = runHttp2Session(conn.client, head, {
    connectUpstream: () => conn.connectUpstream(),
    origin: `http://${host}:${query.dstPort}`,
    decide: (facts) => binding.decideHttp(facts),
    onStream: (r) => {
      const detail: HttpDetail = { protocol: "http", method: r.method, url: r.url, host: r.host, version: "HTTP/2", status: r.status };
      if (r.grpc !== null) {
        const grpc: GrpcDetail = { service: r.grpc.service, method: r.grpc.method, status: r.grpc.status };
        detail.grpc = grpc;
      }
      const rec: L7Exchange<HttpDetail> = {
        flow: binding.flow,
        query,
        verdict: r.verdict,
        proxyLatencySeconds: r.proxyLatencySeconds,
        upstreamLatencySeconds: r.upstreamLatencySeconds,
        startedAtMs: r.startedAtMs,
        detail,
      };
      observer.l7Request(rec);
    },
    onParseError: (code) => observer.parseError(code),
    onConnectionError: (code, detail) => observer.connectionError(code, detail),
    draining: () => conn.draining(),
    settings: http2SettingsOf(conn.config),
  });
  return { drain: () => session.drain() };
}
