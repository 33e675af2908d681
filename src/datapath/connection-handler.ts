// One accepted (TPROXY'd) connection, start to finish:
//   identify peers -> L3/L4 verdict -> deny: reset | no L7: relay bytes | http: HTTP/1 session.
// The socket's local address is the original destination (TPROXY keeps it), so the
// upstream connection goes exactly where the client was going.

import { connect, type Socket } from "node:net";
import type { SnapshotHolder } from "../control/snapshot-holder.js";
import type { FlowQuery, FlowVerdict, HttpRequestFacts, PolicySnapshot } from "../policy/decision.js";
import { runHttp1Session } from "./http1/http1-session.js";
import type { UpstreamOnRead } from "./http1/session-options.js";
import type { DatapathObserver } from "./observer.js";
import { relayTcp } from "./tcp-relay.js";

export interface ConnectionContext {
  holder: SnapshotHolder;
  observer: DatapathObserver;
  upstreamConnectTimeoutMs: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  maxHeaderBytes: number;
  /** Plain mode (--upstream): the destination of every connection, instead of the original one. */
  fixedUpstream: { host: string; port: number } | null;
  /** Set while draining: HTTP sessions answer their next response with Connection: close. */
  draining: () => boolean;
}

function stripMapped(ip: string | undefined): string {
  if (ip === undefined) return "";
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}

function connectUpstream(q: FlowQuery, ctx: ConnectionContext, onread?: UpstreamOnRead): Socket {
  // Locally generated traffic leaves through the output hook, which the interception rules
  // do not touch, so this connection goes straight to the destination.
  const upstream = connect(onread === undefined ? { host: q.dstIp, port: q.dstPort, noDelay: true } : { host: q.dstIp, port: q.dstPort, noDelay: true, onread });
  upstream.setTimeout(ctx.upstreamConnectTimeoutMs, () => {
    if (upstream.connecting) upstream.destroy(Object.assign(new Error("upstream connect timeout"), { code: "ETIMEDOUT" }));
  });
  upstream.once("connect", () => upstream.setTimeout(0));
  upstream.once("error", (err: NodeJS.ErrnoException) => {
    if (upstream.connecting || err.code === "ECONNREFUSED" || err.code === "ETIMEDOUT" || err.code === "EHOSTUNREACH") {
      ctx.observer.upstreamConnectFailure();
    }
  });
  return upstream;
}

/** What the server can ask of a live connection while draining. */
export interface ConnectionHandle {
  /** Close once idle (HTTP: after the requests in flight are answered). Null for byte relays. */
  drain: (() => void) | null;
}

export function handleConnection(client: Socket, ctx: ConnectionContext): ConnectionHandle {
  const { observer } = ctx;
  observer.connectionOpened();
  client.once("close", () => observer.connectionClosed(client.bytesRead, client.bytesWritten));
  client.on("error", () => {
    /* reported through close; an error here must never crash the proxy */
  });
  const snapshot = ctx.holder.current;
  if (snapshot === null) {
    // Not ready (no policy loaded yet): fail closed.
    client.resetAndDestroy();
    return { drain: null };
  }
  const q: FlowQuery = {
    srcIp: stripMapped(client.remoteAddress),
    srcPort: client.remotePort ?? 0,
    dstIp: ctx.fixedUpstream?.host ?? stripMapped(client.localAddress),
    dstPort: ctx.fixedUpstream?.port ?? client.localPort ?? 0,
    protocol: "TCP",
  };
  let flow: FlowVerdict;
  try {
    flow = snapshot.decideFlow(q);
  } catch {
    client.resetAndDestroy();
    return { drain: null };
  }
  observer.l4Verdict(flow, q);
  if (!flow.allowed) {
    // The handshake completed with the proxy, never with the destination; a reset tells
    // the client at once instead of leaving it to time out.
    client.resetAndDestroy();
    return { drain: null };
  }
  client.setNoDelay(true);
  if (flow.l7 === null) {
    void relayTcp(client, connectUpstream(q, ctx));
    return { drain: null };
  }
  if (flow.l7 !== "http") {
    // Kafka and DNS-over-TCP requests are decided by the engine but have no parser on the
    // data path yet: deny rather than let undecided requests through.
    client.resetAndDestroy();
    return { drain: null };
  }
  let flowSnapshot: PolicySnapshot = snapshot;
  let currentFlow = flow;
  const session = runHttp1Session(client, {
    connectUpstream: (onread) => connectUpstream(q, ctx, onread),
    decide: (req: HttpRequestFacts) => {
      // Each request sees the newest snapshot: a reload applies to the next request on a
      // keep-alive connection, while requests already forwarded finish undisturbed.
      const now = ctx.holder.current ?? flowSnapshot;
      if (now !== flowSnapshot) {
        flowSnapshot = now;
        currentFlow = now.decideFlow(q);
      }
      // A flow the new policy denies at L3/L4 gets its verdict from decideHttp too (denied,
      // naming the side that denies it), so later requests on the connection get a 403.
      if (currentFlow.allowed && currentFlow.l7 !== "http") {
        return { allowed: true, egress: currentFlow.egress, ingress: currentFlow.ingress, headerOps: [], logs: [] };
      }
      return now.decideHttp(currentFlow, q, req);
    },
    // Every field named, in one order: one object shape for every request (a spread of
    // records with optional fields makes V8 clone through slow, polymorphic paths).
    onRequest: (ex) =>
      observer.httpRequest({
        flow: currentFlow,
        query: q,
        verdict: ex.verdict,
        method: ex.method,
        url: ex.url,
        host: ex.host,
        protocol: ex.protocol,
        status: ex.status,
        proxyLatencySeconds: ex.proxyLatencySeconds,
        upstreamLatencySeconds: ex.upstreamLatencySeconds,
        startedAtMs: ex.startedAtMs,
      }),
    onParseError: (code) => observer.parseError(code),
    headerTimeoutMs: ctx.headerTimeoutMs,
    idleTimeoutMs: ctx.idleTimeoutMs,
    requestTimeoutMs: ctx.requestTimeoutMs,
    maxHeaderBytes: ctx.maxHeaderBytes,
    draining: ctx.draining,
  });
  return { drain: () => session.drain() };
}
