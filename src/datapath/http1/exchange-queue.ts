// The exchange queue: every decided request waits here, in arrival order, until its answer
// is fully written, so local replies (403, 307, 400) slot in between upstream responses in
// request order. Also where draining settles which request is the last one, and where
// pipelined requests held back past maxPipelined are released.

import { deniedResponse, redirectResponse } from "./local-replies.js";
import { P_QUEUE_FULL, P_UPGRADE, type Exchange } from "./session-core.js";
import type { HttpDecision } from "./session-options.js";
import { SessionTimers } from "./session-timers.js";

export abstract class ExchangeQueue<V extends HttpDecision> extends SessionTimers<V> {
  protected abstract processClient(buf: Buffer, pos: number): void;
  protected abstract onClientEnd(): void;

  drain(): void {
    if (this.finished || this.tunnel) return;
    this.draining = true;
    this.settleLast();
  }

  /** Draining: makes the newest request received the last one, or closes an idle connection. */
  protected settleLast(): void {
    const f = this.reqs;
    // A head under way becomes the last request once complete (decide() sees `draining`).
    if (f.headInProgress) return;
    const last = this.queue[this.queue.length - 1];
    if (last !== undefined && last.closeAfter) return;
    if (last !== undefined && (last.local !== null || last.status === 0)) {
      last.closeAfter = true;
      if (last.head !== null && last.head.keepAlive) {
        last.announceClose = true;
        // A queued 403 is still unsent: say close in it too.
        if (last.local !== null) {
          last.local = last.head.escapedSlashes
            ? redirectResponse({ location: last.head.path, connection: "close" })
            : deniedResponse({ headOnly: last.head.method === "HEAD", connection: "close" });
        }
      }
      if (f.midRequest) {
        // Its body is still arriving: read to its end, then stop.
        this.lastRequest = true;
      } else {
        this.requestsDone = true;
        if (this.heldForQueue) {
          // Pipelined beyond the bound and never decided: the client sees close and resends.
          this.held = null;
          this.heldForQueue = false;
        }
      }
      return;
    }
    // Nothing left to answer with close: end now if idle, else once idle (advance / END).
    if (last === undefined && !f.midRequest && this.held === null) this.closeGracefully();
  }

  protected localExchange(reply: Buffer, status: number): Exchange<V> {
    return {
      head: null, verdict: null, local: reply, closeAfter: true, announceClose: false, status, answered: false,
      tHead: 0, tForwarded: 0, tFirstByte: 0, tEnd: 0, skipped: undefined,
    };
  }

  protected enqueue(ex: Exchange<V>): void {
    this.queue.push(ex);
    if (this.queue.length === 1) this.advance();
    if (this.queue.length >= this.maxPipelined) this.pauseClient(P_QUEUE_FULL);
  }

  /** The exchange at the front of the queue is fully answered. */
  protected complete(): void {
    const ex = this.queue.shift()!;
    this.report(ex);
    if (ex.closeAfter) {
      this.closeGracefully();
      return;
    }
    if (this.queue.length < this.maxPipelined) this.resumeClient(P_QUEUE_FULL);
    if (ex.head?.upgrade === true && this.held !== null) {
      // The upgrade was refused: what the client sent meanwhile is requests after all.
      const held = this.held;
      this.held = null;
      this.reqs.resume();
      this.resumeClient(P_UPGRADE);
      if (held.length > 0) this.processClient(held, 0);
      if (this.finished) return;
    }
    this.advance();
  }

  /** Writes local replies now at the front of the queue; prepares for the next upstream response. */
  protected advance(): void {
    this.answerLocals();
    if (this.heldForQueue && !this.finished && this.queue.length < this.maxPipelined) this.releaseHeld();
  }

  protected answerLocals(): void {
    for (;;) {
      const ex = this.queue[0];
      if (ex === undefined) {
        const done = this.requestsDone || (this.draining && !this.reqs.midRequest);
        if (done && !this.tunnel && this.held === null) this.closeGracefully();
        return;
      }
      if (ex.local === null) {
        if (this.resps.idle) this.resps.begin({ isHead: ex.head!.method === "HEAD", upgrade: ex.head!.upgrade });
        return;
      }
      this.queue.shift();
      ex.answered = true;
      this.writeClient(ex.local);
      this.report(ex);
      if (ex.closeAfter) {
        this.closeGracefully();
        return;
      }
      if (this.queue.length < this.maxPipelined) this.resumeClient(P_QUEUE_FULL);
    }
  }

  /** Room in the queue again: parse the pipelined requests held back. */
  protected releaseHeld(): void {
    const held = this.held!;
    this.held = null;
    this.heldForQueue = false;
    this.processClient(held, 0);
    if (this.clientEnded && !this.finished && !this.heldForQueue) this.onClientEnd();
  }
}
