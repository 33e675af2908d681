// The state one HTTP/1 session shares across its parts (the client side in http1-session.ts,
// upstream-side.ts, exchange-queue.ts, session-timers.ts), and what every part uses: writing
// to either socket with backpressure, reporting a finished request, and teardown.
//
// The parts are layers of one class (core <- timers <- queue <- upstream side <- session), not
// separate objects: every field lives on the one session object, so the per-read loops reach
// them as before, with no hop through another object and nothing allocated per request.

import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { L7ProxyError } from "../../errors/codes.js";
import { errorResponse } from "./local-replies.js";
import * as rq from "./request-framer.js";
import type { RequestHead } from "./request-head.js";
import * as rs from "./response-framer.js";
import { SESSION_DEFAULTS, type Http1RequestRecord, type Http1SessionOptions, type HttpDecision } from "./session-options.js";

export interface Exchange<V> {
  head: RequestHead | null;
  verdict: V | null;
  /** A reply the proxy writes itself; null when the upstream answers. */
  local: Buffer | null;
  /** Close the client connection once this exchange is answered. */
  closeAfter: boolean;
  /** Draining closes a connection the client meant to keep: the answer must say Connection: close. */
  announceClose: boolean;
  status: number;
  /** Bytes of the answer already sent to the client. */
  answered: boolean;
  tHead: number;
  tForwarded: number;
  tFirstByte: number;
  /** Date.now() when the request was forwarded to its end; 0 before (or for a local reply). */
  tEnd: number;
  skipped: string[] | undefined;
}

// Why the client's reads are paused (a bit each; reads resume when none is left).
export const P_UPSTREAM_FULL = 1;
export const P_QUEUE_FULL = 2;
export const P_UPGRADE = 4;
export const P_CLIENT_FULL = 8;

/** How long a closed connection keeps draining what the client still sends. */
const LINGER_MS = 2_000;

export abstract class SessionCore<V extends HttpDecision> {
  protected readonly reqs: rq.RequestFramer;
  protected readonly resps = new rs.ResponseFramer();
  protected readonly queue: Exchange<V>[] = [];
  protected upstream: Socket | null = null;
  protected upstreamGone = false;
  /** Between the head and the end of an allowed request: its body goes to the upstream. */
  protected forwarding = false;
  /** Whether the last decided request was allowed (an allowed upgrade waits for the response). */
  protected lastAllowed = false;
  /** The request being read is the connection's last (draining, or it asked to close). */
  protected lastRequest = false;
  protected clientEnded = false;
  /** No more requests are read: after Connection: close, an error, or a closing 403. */
  protected requestsDone = false;
  protected finished = false;
  protected tunnel = false;
  /** Set once drain() was called or opts.draining() was seen true. */
  protected draining = false;
  /** Client bytes not parsed yet: after an upgrade request (tunnel or more requests), or past maxPipelined. */
  protected held: Buffer | null = null;
  /** `held` waits for room in the queue (not for the answer to an upgrade). */
  protected heldForQueue = false;
  protected clientPause = 0;
  protected upstreamPaused = false;
  protected waitingUpstreamDrain = false;
  protected waitingClientDrain = false;
  protected headerTimer: NodeJS.Timeout | null = null;
  protected requestTimer: NodeJS.Timeout | null = null;
  protected readonly requestTimeoutMs: number;
  protected upstreamActiveAt = 0;
  /** Where the upstream socket reads to (see openUpstream); null: allocate a new one. */
  protected upstreamReadBuf: Buffer | null = null;
  protected readonly timed: boolean;
  protected readonly headerTimeoutMs: number;
  protected readonly idleTimeoutMs: number;
  protected readonly maxPipelined: number;

  constructor(
    protected readonly client: Socket,
    protected readonly opts: Http1SessionOptions<V>,
  ) {
    this.reqs = new rq.RequestFramer({
      maxHeadBytes: opts.maxHeaderBytes ?? SESSION_DEFAULTS.maxHeaderBytes,
      maxStartLineBytes: opts.maxRequestLineBytes ?? SESSION_DEFAULTS.maxRequestLineBytes,
      maxHeaders: opts.maxHeaders ?? SESSION_DEFAULTS.maxHeaders,
    });
    this.headerTimeoutMs = opts.headerTimeoutMs ?? SESSION_DEFAULTS.headerTimeoutMs;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? SESSION_DEFAULTS.requestTimeoutMs;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? SESSION_DEFAULTS.idleTimeoutMs;
    this.maxPipelined = opts.maxPipelined ?? SESSION_DEFAULTS.maxPipelined;
    this.timed = opts.onRequest !== undefined;
  }

  protected abstract clearHeaderTimer(): void;

  // ---------------------------------------------------------------- flow control

  protected writeUpstream(buf: Buffer): void {
    const up = this.upstream;
    if (up === null || up.destroyed) return;
    if (!up.write(buf) && !this.waitingUpstreamDrain) {
      this.waitingUpstreamDrain = true;
      this.pauseClient(P_UPSTREAM_FULL);
    }
  }

  protected writeClient(buf: Buffer): void {
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

  protected onClientDrain(): void {
    this.waitingClientDrain = false;
    if (this.upstreamPaused) {
      this.upstreamPaused = false;
      this.upstream?.resume();
    }
    this.resumeClient(P_CLIENT_FULL);
  }

  protected pauseClient(reason: number): void {
    if (this.clientPause === 0) this.client.pause();
    this.clientPause |= reason;
  }

  protected resumeClient(reason: number): void {
    if ((this.clientPause & reason) === 0) return;
    this.clientPause &= ~reason;
    if (this.clientPause === 0 && !this.finished) this.client.resume();
  }

  protected report(ex: Exchange<V>): void {
    const cb = this.opts.onRequest;
    if (cb === undefined || ex.head === null || ex.verdict === null) return;
    const h = ex.head;
    // Optional fields are always present (maybe undefined): one object shape for every record.
    const rec: Http1RequestRecord<V> = {
      verdict: ex.verdict,
      allowed: ex.verdict.allowed,
      method: h.method,
      url: h.forwardTarget ?? h.target,
      host: h.host,
      protocol: h.minorVersion === 0 ? "HTTP/1.0" : "HTTP/1.1",
      status: ex.answered ? ex.status : 0,
      proxyLatencySeconds: ex.tForwarded > 0 ? (ex.tForwarded - ex.tHead) / 1000 : (performance.now() - ex.tHead) / 1000,
      upstreamLatencySeconds: ex.tFirstByte > 0 ? (ex.tFirstByte - ex.tForwarded) / 1000 : undefined,
      startedAtMs: ex.tHead,
      skippedHeaderOps: ex.skipped,
    };
    try {
      cb(rec);
    } catch {
      // Reporting must never break the connection.
    }
  }

  /**
   * Ends the client connection after what was written and drops the upstream. Reading goes
   * on (and is discarded) for a short while: closing a socket with unread input makes the
   * kernel send a reset, which can destroy the answer still on its way to the client.
   */
  protected closeGracefully(): void {
    if (!this.finish()) return;
    this.client.end();
    this.client.resume();
    setTimeout(() => this.client.destroy(), LINGER_MS).unref();
    this.upstream?.destroy();
    this.reportAborted();
  }

  /**
   * The oldest exchange, of which nothing was sent yet, gets a local error answer (502, 503, 504)
   * and the connection closes: later pipelined requests cannot be answered in order.
   */
  protected answerOldestAndClose(ex: Exchange<V>, status: 502 | 503 | 504): void {
    this.queue.shift();
    ex.status = status;
    ex.answered = true;
    this.writeClient(errorResponse(status, ex.head?.method === "HEAD"));
    this.report(ex);
    this.closeGracefully();
  }

  /** Marks the session finished and stops its timers; false if it already was. */
  private finish(): boolean {
    if (this.finished) return false;
    this.finished = true;
    this.clearHeaderTimer();
    if (this.requestTimer !== null) clearTimeout(this.requestTimer);
    return true;
  }

  /** Resets both connections at once. */
  protected abort(): void {
    if (!this.finish()) return;
    this.client.destroy();
    this.upstream?.destroy();
    this.reportAborted();
  }

  protected reportAborted(): void {
    for (const ex of this.queue.splice(0)) this.report(ex);
  }

  protected guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const code = err instanceof L7ProxyError ? err.code : "L7P_ERR_INTERNAL";
      this.opts.onConnectionError?.(code, err instanceof Error ? err.message : String(err));
      this.abort();
    }
  }
}
