// Byte relay for flows allowed at L3/L4 on ports without L7 rules: the proxy only copies
// bytes, in both directions, with backpressure (pipe) and TCP half-close preserved, so
// protocols that shut down one direction first (HTTP/1.0 clients, rsync, SMTP) still work.

import type { Socket } from "node:net";

export interface RelayResult {
  bytesFromClient: number;
  bytesFromUpstream: number;
}

/** Relays until both directions are finished or either side fails; resolves once both sockets are closed. */
export function relayTcp(client: Socket, upstream: Socket): Promise<RelayResult> {
  return new Promise((resolve) => {
    let closed = 0;
    const finish = (): void => {
      closed += 1;
      if (closed === 2) resolve({ bytesFromClient: client.bytesRead, bytesFromUpstream: upstream.bytesRead });
    };
    // An error on one side must not leave the other half-open forever: reset both, so the
    // peer learns the connection is gone rather than waiting for data that will not come.
    const abort = (): void => {
      if (!client.destroyed) client.resetAndDestroy();
      if (!upstream.destroyed) upstream.resetAndDestroy();
    };
    client.once("close", finish);
    upstream.once("close", finish);
    client.on("error", abort);
    upstream.on("error", abort);
    client.pipe(upstream);
    upstream.pipe(client);
  });
}
