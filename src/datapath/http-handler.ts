// The `http` entry of the protocol registry: a port with HTTP rules carries HTTP/1.x or
// HTTP/2. The first bytes decide, as Envoy's codec AUTO does: the 24-byte HTTP/2 preface
// (which may take several reads) means h2c with prior knowledge, anything else HTTP/1.x
// (`Upgrade: h2c` stays a plain HTTP/1.1 request there). The upstream then speaks what the
// client spoke (Cilium's useDownstreamProtocolConfig).

import { startHttp1 } from "./http1/http1-handler.js";
import { startHttp2 } from "./http2/http2-handler.js";
import { sniffHttpVersion } from "./http2/sniff.js";
import type { ConnectionHandle, L7Connection, ProtocolHandler } from "./protocol-handler.js";

export function startHttp(conn: L7Connection): ConnectionHandle {
  const client = conn.client;
  let inner: ConnectionHandle | null = null;
  // Until the first bytes arrive the connection is idle: the idle timeout applies, and a
  // drain closes it at once.
  const { idleTimeoutMs } = conn.config;
  const onIdle = (): void => {
    client.destroy();
  };
  if (idleTimeoutMs > 0) client.setTimeout(idleTimeoutMs, onIdle);
  sniffHttpVersion(client, (kind, head) => {
    if (idleTimeoutMs > 0) {
      client.setTimeout(0);
      client.off("timeout", onIdle);
    }
    if (client.destroyed) return;
    if (kind === "h2") {
      inner = startHttp2(conn, head);
    } else {
      client.unshift(head);
      inner = startHttp1(conn);
      client.resume();
    }
  });
  return {
    drain: () => {
      if (inner === null) client.destroy();
      else inner.drain?.();
    },
  };
}

export const httpHandler: ProtocolHandler = { protocol: "http", start: startHttp };
