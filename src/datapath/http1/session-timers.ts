// The session's clocks: the header timeout (a head must complete in time), the request
// timeout (Envoy's route timeout, from the end of a forwarded request to the end of its
// response: one lazily re-armed timer per connection, checked against the oldest request
// waiting) and the idle timeout (the client socket's own timeout, pushed back while the
// upstream is still sending).

import { errorResponse } from "./local-replies.js";
import { SessionCore } from "./session-core.js";
import type { HttpDecision } from "./session-options.js";

export abstract class SessionTimers<V extends HttpDecision> extends SessionCore<V> {
  protected armHeaderTimer(): void {
    if (this.headerTimer !== null || this.headerTimeoutMs <= 0 || !this.reqs.headInProgress) return;
    this.headerTimer = setTimeout(() => this.guard(() => this.onHeaderTimeout()), this.headerTimeoutMs);
  }

  protected clearHeaderTimer(): void {
    if (this.headerTimer !== null) {
      clearTimeout(this.headerTimer);
      this.headerTimer = null;
    }
  }

  protected onHeaderTimeout(): void {
    this.headerTimer = null;
    if (this.finished) return;
    this.opts.onConnectionError?.("L7P_ERR_TIMEOUT", "request head not complete in time");
    this.requestsDone = true;
    if (this.queue.length === 0) {
      this.writeClient(errorResponse(408));
      this.closeGracefully();
    } else {
      this.abort();
    }
  }

  /** The newest request was forwarded to its end: its response is due within the request timeout. */
  protected startRequestClock(): void {
    const ex = this.queue[this.queue.length - 1];
    // Absent when the response completed before the request did.
    if (ex === undefined || ex.local !== null || ex.tEnd !== 0) return;
    ex.tEnd = Date.now();
    if (this.requestTimer === null) this.armRequestTimer(this.requestTimeoutMs);
  }

  protected armRequestTimer(ms: number): void {
    this.requestTimer = setTimeout(() => this.guard(() => this.onRequestTimer()), ms);
  }

  protected onRequestTimer(): void {
    this.requestTimer = null;
    if (this.finished || this.tunnel) return;
    const ex = this.queue[0];
    if (ex === undefined) return;
    if (ex.tEnd === 0) {
      // Still being uploaded (or a local reply on its way out): not yet on the clock.
      this.armRequestTimer(this.requestTimeoutMs);
      return;
    }
    const left = ex.tEnd + this.requestTimeoutMs - Date.now();
    if (left > 0) {
      this.armRequestTimer(left);
      return;
    }
    this.opts.onConnectionError?.("L7P_ERR_TIMEOUT", "no complete response within the request timeout");
    if (ex.status !== 0) {
      // Part of the response went out: only a cut connection tells the client it is short.
      this.abort();
      return;
    }
    this.answerOldestAndClose(ex, 504);
  }

  protected onIdle(): void {
    if (this.finished) return;
    const waitingOnUpstream = this.tunnel || this.queue.length > 0;
    if (waitingOnUpstream && Date.now() - this.upstreamActiveAt < this.idleTimeoutMs) {
      this.client.setTimeout(this.idleTimeoutMs);
      return;
    }
    this.opts.onConnectionError?.("L7P_ERR_TIMEOUT", "connection idle");
    if (waitingOnUpstream || this.reqs.midRequest) this.abort();
    else this.closeGracefully();
  }
}
