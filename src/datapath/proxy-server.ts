// The transparent listener and the set of live connections: accepts what the kernel
// redirects, hands each connection to the pipeline, and drains gracefully on shutdown
// (stop accepting, let in-flight requests finish within a bound, then close).

import type { Server, Socket } from "node:net";
import { acceptQueued } from "../intercept/transparent-socket.js";
import { handleConnection, type ConnectionContext, type ConnectionHandle } from "./connection-handler.js";

/**
 * Connections taken from the accept queue per connection libuv hands over (one per event-loop
 * turn). A turn serves every established connection that has something to read, so new ones
 * waiting in the queue are served in the same turn too: up to as many as the turn's epoll batch
 * (libuv's 1024 events), so one turn stays bounded during a storm of connects.
 */
export const ACCEPT_BATCH = 1024;

export class ProxyServer {
  readonly #sockets = new Map<Socket, ConnectionHandle>();
  #draining = false;

  constructor(
    readonly server: Server,
    readonly ctx: Omit<ConnectionContext, "draining">,
  ) {
    const full: ConnectionContext = { ...ctx, draining: () => this.#draining };
    const accept = (socket: Socket): void => {
      this.#sockets.set(socket, { drain: null });
      socket.once("close", () => this.#sockets.delete(socket));
      const handle = handleConnection(socket, full);
      if (this.#sockets.has(socket)) this.#sockets.set(socket, handle);
    };
    server.on("connection", (socket: Socket) => {
      accept(socket);
      // A draining proxy accepts nothing more (the listener closes at once anyway).
      if (this.#draining) return;
      for (const queued of acceptQueued(server, ACCEPT_BATCH - 1)) accept(queued);
    });
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * Stops accepting, then lets connections finish on their own: while draining, every HTTP
   * response carries `Connection: close`, so busy keep-alive clients close after their next
   * answer without racing a close from our side. After `idleGraceMs`, connections still open
   * are idle ones: they are closed (HTTP sessions close once their requests in flight are
   * answered). Whatever remains at `timeoutMs` is closed.
   */
  async drain(timeoutMs: number, idleGraceMs = Math.min(5000, timeoutMs / 2)): Promise<{ remaining: number }> {
    this.#draining = true;
    // close() stops accepting at once; its callback would wait for every connection.
    this.server.close();
    const start = Date.now();
    let idleClosed = false;
    while (this.#sockets.size > 0 && Date.now() - start < timeoutMs) {
      if (!idleClosed && Date.now() - start >= idleGraceMs) {
        idleClosed = true;
        for (const handle of this.#sockets.values()) handle.drain?.();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const remaining = this.#sockets.size;
    for (const s of this.#sockets.keys()) s.destroy();
    return { remaining };
  }
}
