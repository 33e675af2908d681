// The proxy's connection to the original destination (or to --upstream in plain mode), for
// every protocol. Locally generated traffic leaves through the output hook, which the
// interception rules do not touch, so this connection goes straight to the destination.
//
// Source-preserving (the default): the connection is made from the client's own address, on
// a port the kernel chooses (Envoy's original-src does the same: the client's own port would
// repeat the client connection's 4-tuple in conntrack). The upstream, and the proxy on the
// upstream's node, then see the real caller, so that node decides the ingress side for the
// right identity. Replies come back to the proxy, not to the pod, because the interception
// rules deliver packets of transparent sockets locally (`socket transparent`). The socket
// carries --upstream-mark, which the rules never redirect (its packets can re-enter
// prerouting through lo).
//
// Two destinations are still reached from the node's address, because a preserved source
// cannot work there and nothing is lost by not preserving it (this proxy decides both sides):
//   - an address of this node: the local server's replies would be routed to the pod;
//   - the client itself (a Service VIP that chose the client as backend): the pod would
//     receive a packet from its own address and drop it as a martian.
// Anything else that fails (the bind, or the connect for want of a source port) refuses the
// connection and is counted: the proxy never falls back to its own address silently.

import { connect, Socket } from "node:net";
import type { FlowQuery } from "../policy/decision.js";
import { connectUpstream as connectTransparent } from "../intercept/transparent-socket.js";
import { isLocalAddress } from "../intercept/local-addresses.js";
import type { DatapathObserver } from "./observer.js";
import type { UpstreamOnRead } from "./protocol-handler.js";

export interface UpstreamConnectOptions {
  timeoutMs: number;
  observer: DatapathObserver;
  /** Connect from the client's address with this SO_MARK; null: from the node's address. */
  preserveSource: { mark: number } | null;
}

/** errno values of a connect that found no free source port (or a bind that failed). */
const SOURCE_ERRORS = new Set(["EADDRNOTAVAIL", "EADDRINUSE"]);

export function connectUpstream(q: FlowQuery, o: UpstreamConnectOptions, onread?: UpstreamOnRead): Socket {
  const preserve = o.preserveSource !== null && q.srcIp !== q.dstIp && !isLocalAddress(q.dstIp);
  const upstream = preserve ? fromClientAddress(q, o, onread) : fromNode(q, onread);
  upstream.setTimeout(o.timeoutMs, () => {
    if (upstream.connecting) upstream.destroy(Object.assign(new Error("upstream connect timeout"), { code: "ETIMEDOUT" }));
  });
  upstream.once("connect", () => upstream.setTimeout(0));
  upstream.once("error", (err: NodeJS.ErrnoException) => {
    if (preserve && err.code !== undefined && SOURCE_ERRORS.has(err.code)) {
      o.observer.connectionError("L7P_ERR_UPSTREAM_SOURCE", `connecting from ${q.srcIp} to ${q.dstIp}:${q.dstPort}: ${err.code}`);
    } else if (upstream.connecting || err.code === "ECONNREFUSED" || err.code === "ETIMEDOUT" || err.code === "EHOSTUNREACH") {
      o.observer.upstreamConnectFailure();
    }
  });
  return upstream;
}

function fromNode(q: FlowQuery, onread?: UpstreamOnRead): Socket {
  return connect(onread === undefined ? { host: q.dstIp, port: q.dstPort, noDelay: true } : { host: q.dstIp, port: q.dstPort, noDelay: true, onread });
}

function fromClientAddress(q: FlowQuery, o: UpstreamConnectOptions, onread?: UpstreamOnRead): Socket {
  try {
    const socket = connectTransparent({
      host: q.dstIp,
      port: q.dstPort,
      localAddress: q.srcIp,
      transparent: true,
      mark: (o.preserveSource as { mark: number }).mark,
      ...(onread !== undefined ? { onread } : {}),
    });
    socket.setNoDelay(true);
    return socket;
  } catch (err) {
    // The socket could not even be made (no CAP_NET_ADMIN, an address of the wrong family):
    // count it, and hand back a socket that fails the usual way, so every protocol refuses
    // the connection through its ordinary upstream-error path.
    const message = err instanceof Error ? err.message : String(err);
    o.observer.connectionError("L7P_ERR_UPSTREAM_SOURCE", message);
    const failed = new Socket();
    process.nextTick(() => failed.destroy(Object.assign(new Error(message), { code: "L7P_ERR_UPSTREAM_SOURCE" })));
    return failed;
  }
}
