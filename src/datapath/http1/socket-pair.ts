// The two sockets of an HTTP/1 session: writes to either with backpressure, why the client's
// reads are paused, and closing the pair (gracefully or at once). Whether the session has
// finished lives here, since every part asks it before touching a socket.

import type { Socket } from "node:net";

// Why the client's reads are paused (a bit each; reads resume when none is left).
export const P_UPSTREAM_FULL = 1;
export const P_QUEUE_FULL = 2;
export const P_UPGRADE = 4;
export const P_CLIENT_FULL = 8;

/** How long a closed connection keeps draining what the client still sends. */
const LINGER_MS = 2_000;

export class SocketPair {
  upstream: Socket | null = null;
  /** The session has ended: nothing more is read or answered. */
  finished = false;
  private clientPause = 0;
  private upstreamPaused = false;
  private waitingUpstreamDrain = false;
  private waitingClientDrain = false;

  constructor(readonly client: Socket) {}

  writeUpstream(buf: Buffer): void {
    const up = this.upstream;
    if (up === null || up.destroyed) return;
    if (!up.write(buf) && !this.waitingUpstreamDrain) {
      this.waitingUpstreamDrain = true;
      this.pauseClient(P_UPSTREAM_FULL);
    }
  }

  writeClient(buf: Buffer): void {
    if (this.client.destroyed) return;
    if (!this.client.write(buf) && !this.waitingClientDrain) {
      this.waitingClientDrain = true;
      // A client that does not read its answers gets nothing more read from it either,
      // so neither responses nor local 403s pile up in memory.
      this.pauseClient(P_CLIENT_FULL);
      if (this.upstream !== null) {
        this.upstream.pause();
        this.upstreamPaused = true;
      }
    }
  }

  onClientDrain(): void {
    this.waitingClientDrain = false;
    if (this.upstreamPaused) {
      this.upstreamPaused = false;
      this.upstream?.resume();
    }
    this.resumeClient(P_CLIENT_FULL);
  }

  onUpstreamDrain(): void {
    this.waitingUpstreamDrain = false;
    this.resumeClient(P_UPSTREAM_FULL);
  }

  pauseClient(reason: number): void {
    if (this.clientPause === 0) this.client.pause();
    this.clientPause |= reason;
  }

  resumeClient(reason: number): void {
    if ((this.clientPause & reason) === 0) return;
    this.clientPause &= ~reason;
    if (this.clientPause === 0 && !this.finished) this.client.resume();
  }

  /**
   * Ends the client connection after what was written and drops the upstream; false if the
   * pair was already finished. Reading goes on (and is discarded) for a short while: closing
   * a socket with unread input makes the kernel send a reset, which can destroy the answer
   * still on its way to the client.
   */
  closeGracefully(): boolean {
    if (this.finished) return false;
    this.finished = true;
    const client = this.client;
    client.end();
    client.resume();
    setTimeout(() => client.destroy(), LINGER_MS).unref();
    this.upstream?.destroy();
    return true;
  }

  /** Resets both connections at once; false if the pair was already finished. */
  abort(): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.client.destroy();
    this.upstream?.destroy();
    return true;
  }
}
