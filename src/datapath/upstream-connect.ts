// The proxy's connection to the original destination (or to --upstream in plain mode), for
// every protocol. Locally generated traffic leaves through the output hook, which the
// interception rules do not touch, so this connection goes straight to the destination.

import { connect, type Socket } from "node:net";
import type { FlowQuery } from "../policy/decision.js";
import type { DatapathObserver } from "./observer.js";
import type { UpstreamOnRead } from "./protocol-handler.js";

export interface UpstreamConnectOptions {
  timeoutMs: number;
  observer: DatapathObserver;
}

export function connectUpstream(q: FlowQuery, o: UpstreamConnectOptions, onread?: UpstreamOnRead): Socket {
  const upstream = connect(onread === undefined ? { host: q.dstIp, port: q.dstPort, noDelay: true } : { host: q.dstIp, port: q.dstPort, noDelay: true, onread });
  upstream.setTimeout(o.timeoutMs, () => {
    if (upstream.connecting) upstream.destroy(Object.assign(new Error("upstream connect timeout"), { code: "ETIMEDOUT" }));
  });
  upstream.once("connect", () => upstream.setTimeout(0));
  upstream.once("error", (err: NodeJS.ErrnoException) => {
    if (upstream.connecting || err.code === "ECONNREFUSED" || err.code === "ETIMEDOUT" || err.code === "EHOSTUNREACH") {
      o.observer.upstreamConnectFailure();
    }
  });
  return upstream;
}
