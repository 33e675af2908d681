// The transparent listener and the set of live connections: accepts what the kernel
// redirects, hands each connection to the pipeline, and drains gracefully on shutdown
// (stop accepting, let in-flight requests finish within a bound, then close).

import type { Server, Socket } from "node:net";
import { handleConnection, type ConnectionContext, type ConnectionHandle } from "./connection-handler.js";

export class ProxyServer {
  readonly #sockets = new Map<Socket, ConnectionHandle>();
  #draining = false;

  constructor(
    readonly server: Server,
    readonly ctx: Omit<ConnectionContext, "draining">,
  ) {
    const full: ConnectionContext = { ...ctx, draining: () => this.#draining };
    server.on("connection", (socket: Socket) => {
      this.#sockets.set(socket, { drain: null });
      socket.once("close", () => this.#sockets.delete(socket));
      const handle = handleConnection(socket, full);
      if (this.#sockets.has(socket)) this.#sockets.set(socket, handle);
      if (this.#draining) handle.drain?.();
    });
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * Stops accepting, then waits up to `timeoutMs` for connections to finish on their own
   * (HTTP sessions close idle keep-alive connections and send `Connection: close` on their
   * next response while draining); whatever is left is closed.
   */
  async drain(timeoutMs: number): Promise<{ remaining: number }> {
    this.#draining = true;
    // close() stops accepting at once; its callback would wait for every connection.
    this.server.close();
    // Idle keep-alive connections close now; busy ones after their requests in flight.
    for (const handle of this.#sockets.values()) handle.drain?.();
    const deadline = Date.now() + timeoutMs;
    while (this.#sockets.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const remaining = this.#sockets.size;
    for (const s of this.#sockets.keys()) s.destroy();
    return { remaining };
  }
}
