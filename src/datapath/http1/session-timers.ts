// The session's clocks: the header timeout (a head must complete in time), the request
// timeout (Envoy's route timeout, from the end of a forwarded request to the end of its
// response: one lazily re-armed timer per connection, checked against the oldest request
// waiting) and the idle timeout (the client socket's own timeout, pushed back while the
// upstream is still sending).

import type { ExchangeQueue } from "../exchange-queue.js";
import type { Exchange } from "./http1-exchange.js";
import type { SessionControl } from "./session-control.js";
import type { SocketPair } from "./socket-pair.js";

/** What the timers ask of the session besides SessionControl. */
export interface TimersHost<V> extends SessionControl<V> {
  /** A raw tunnel: no request clock, and idle only when neither side moves. */
  readonly tunnel: boolean;
  /** Date.now() when the upstream last sent something. */
  readonly upstreamActiveAt: number;
  /** Part of a request (head or body) has been read, not all of it. */
  readonly midRequest: boolean;
  /** The head under way did not complete in time. */
  headerTimedOut(): void;
}

export class SessionTimers<V> {
  private headerTimer: NodeJS.Timeout | null = null;
  private requestTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly io: SocketPair,
    private readonly queue: ExchangeQueue<Exchange<V>>,
    private readonly host: TimersHost<V>,
    private readonly headerTimeoutMs: number,
    readonly requestTimeoutMs: number,
    private readonly idleTimeoutMs: number,
  ) {
    if (idleTimeoutMs > 0) {
      io.client.setTimeout(idleTimeoutMs);
      io.client.on("timeout", () => host.guard(() => this.onIdle()));
    }
  }

  /** A head is under way: it must complete within the header timeout. */
  armHeaderTimer(): void {
    if (this.headerTimer !== null || this.headerTimeoutMs <= 0) return;
    this.headerTimer = setTimeout(() => this.host.guard(() => this.onHeaderTimeout()), this.headerTimeoutMs);
  }

  clearHeaderTimer(): void {
    if (this.headerTimer !== null) {
      clearTimeout(this.headerTimer);
      this.headerTimer = null;
    }
  }

  /** The session finished: no clock fires again. */
  stop(): void {
    this.clearHeaderTimer();
    if (this.requestTimer !== null) clearTimeout(this.requestTimer);
  }

  private onHeaderTimeout(): void {
    this.headerTimer = null;
    if (this.io.finished) return;
    this.host.headerTimedOut();
  }

  /** The newest request was forwarded to its end: its response is due within the request timeout. */
  startRequestClock(): void {
    const ex = this.queue.back();
    // Absent when the response completed before the request did.
    if (ex === undefined || ex.local !== null || ex.tEnd !== 0) return;
    ex.tEnd = Date.now();
    if (this.requestTimer === null) this.armRequestTimer(this.requestTimeoutMs);
  }

  private armRequestTimer(ms: number): void {
    this.requestTimer = setTimeout(() => this.host.guard(() => this.onRequestTimer()), ms);
  }

  private onRequestTimer(): void {
    this.requestTimer = null;
    if (this.io.finished || this.host.tunnel) return;
    const ex = this.queue.front();
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
    this.host.connectionError("L7P_ERR_TIMEOUT", "no complete response within the request timeout");
    if (ex.status !== 0) {
      // Part of the response went out: only a cut connection tells the client it is short.
      this.host.abort();
      return;
    }
    this.host.answerOldestAndClose(ex, 504);
  }

  private onIdle(): void {
    if (this.io.finished) return;
    const waitingOnUpstream = this.host.tunnel || this.queue.length > 0;
    if (waitingOnUpstream && Date.now() - this.host.upstreamActiveAt < this.idleTimeoutMs) {
      this.io.client.setTimeout(this.idleTimeoutMs);
      return;
    }
    this.host.connectionError("L7P_ERR_TIMEOUT", "connection idle");
    if (waitingOnUpstream || this.host.midRequest) this.host.abort();
    else this.host.closeGracefully();
  }
}
