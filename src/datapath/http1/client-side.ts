// The client side of a session: reading requests (framed, decided, forwarded as the original
// slices or answered locally through the exchange queue), which request is the last one
// (Connection: close, draining, errors), and the client bytes held back unparsed: after an
// upgrade request until its answer, and past the pipelining bound until there is room.

import { performance } from "node:perf_hooks";
import type { ExchangeQueue } from "../exchange-queue.js";
import { applyHeaderOps, withForwardTarget, withUpgradeStripped } from "./head-rewrite.js";
import { localExchange, type Exchange } from "./http1-exchange.js";
import { deniedResponse, errorResponse, redirectResponse } from "./local-replies.js";
import * as rq from "./request-framer.js";
import type { RequestHead } from "./request-head.js";
import type { SessionControl } from "./session-control.js";
import { SESSION_DEFAULTS, type Http1SessionOptions, type HttpDecision } from "./session-options.js";
import type { SessionTimers } from "./session-timers.js";
import { P_UPGRADE, type SocketPair } from "./socket-pair.js";
import type { UpstreamSide } from "./upstream-side.js";

export class ClientSide<V extends HttpDecision> {
  readonly reqs: rq.RequestFramer;
  /** Between the head and the end of an allowed request: its body goes to the upstream. */
  private forwarding = false;
  /** Whether the last decided request was allowed (an allowed upgrade waits for the response). */
  private lastAllowed = false;
  /** The request being read is the connection's last (draining, or it asked to close). */
  private lastRequest = false;
  clientEnded = false;
  /** No more requests are read: after Connection: close, an error, or a closing 403. */
  private requestsDone = false;
  /** Set once drain() was called or opts.draining() was seen true. */
  private draining = false;
  /** Client bytes not parsed yet: after an upgrade request (tunnel or more requests), or past maxPipelined. */
  private held: Buffer | null = null;
  /** `held` waits for room in the queue (not for the answer to an upgrade). */
  private heldForQueue = false;
  private readonly timed: boolean;

  constructor(
    private readonly io: SocketPair,
    private readonly queue: ExchangeQueue<Exchange<V>>,
    private readonly timers: SessionTimers<V>,
    private readonly up: UpstreamSide<V>,
    private readonly host: SessionControl<V>,
    private readonly opts: Http1SessionOptions<V>,
  ) {
    this.reqs = new rq.RequestFramer({
      maxHeadBytes: opts.maxHeaderBytes ?? SESSION_DEFAULTS.maxHeaderBytes,
      maxStartLineBytes: opts.maxRequestLineBytes ?? SESSION_DEFAULTS.maxRequestLineBytes,
      maxHeaders: opts.maxHeaders ?? SESSION_DEFAULTS.maxHeaders,
    });
    this.timed = opts.onRequest !== undefined;
  }

  onClientData(buf: Buffer): void {
    if (this.io.finished) return;
    if (this.up.tunnel) {
      this.io.writeUpstream(buf);
      return;
    }
    if (this.requestsDone) return;
    if (this.held !== null) {
      this.held = Buffer.concat([this.held, buf]);
      return;
    }
    this.processClient(buf, 0);
  }

  processClient(buf: Buffer, pos: number): void {
    const f = this.reqs;
    let fwdStart = -1;
    const flush = (end: number) => {
      if (fwdStart >= 0 && end > fwdStart) this.io.writeUpstream(fwdStart === 0 && end === buf.length ? buf : buf.subarray(fwdStart, end));
      fwdStart = -1;
    };
    for (;;) {
      const ev = f.execute(buf, pos);
      switch (ev) {
        case rq.NEED_MORE:
          // Not buf.length: the bytes of an unfinished head are held by the framer, undecided.
          flush(pos);
          if (f.headInProgress) this.timers.armHeaderTimer();
          return;
        case rq.HEAD: {
          this.timers.clearHeaderTimer();
          const head = f.head!;
          const ex = this.decide(head);
          if (this.io.finished) return;
          if (ex.local === null) {
            const ops = head.strippedConnection === null ? ex.verdict!.headerOps : withUpgradeStripped(head.strippedConnection, ex.verdict!.headerOps);
            if ((ops === undefined || ops.length === 0) && f.headInChunk && head.forwardTarget === null) {
              // Pass-through: the head joins the run of bytes written as one slice.
              if (fwdStart < 0 || f.headStart !== pos) {
                flush(pos);
                fwdStart = f.headStart;
              }
            } else {
              flush(pos);
              let raw = head.forwardTarget === null ? head.raw : withForwardTarget(head);
              if (ops !== undefined && ops.length > 0) {
                const r = applyHeaderOps(head, ops);
                raw = r.raw;
                if (r.skipped.length > 0) ex.skipped = r.skipped;
              }
              this.io.writeUpstream(raw);
            }
            if (this.timed) ex.tForwarded = performance.now();
          } else {
            flush(pos);
          }
          this.queue.push(ex);
          if (this.requestsDone || this.io.finished) return;
          break;
        }
        case rq.BODY:
          if (this.forwarding) {
            if (fwdStart < 0) fwdStart = f.bodyStart;
          }
          break;
        case rq.END:
          if (this.forwarding && this.timers.requestTimeoutMs > 0) this.timers.startRequestClock();
          this.forwarding = false;
          if (this.lastRequest) {
            flush(f.pos);
            this.requestsDone = true;
            // Answered before its body ended: nothing is left to wait for.
            if (this.queue.length === 0) this.host.closeGracefully();
            return;
          }
          if (this.draining && this.queue.length === 0) {
            flush(f.pos);
            this.host.closeGracefully();
            return;
          }
          if (this.queue.full && f.pos < buf.length && f.head!.keepAlive && !f.head!.upgrade) {
            // Enough requests await answers (reads are paused): the rest waits, unparsed.
            flush(f.pos);
            this.held = Buffer.from(buf.subarray(f.pos));
            this.heldForQueue = true;
            return;
          }
          break;
        case rq.PAUSED:
          if (!this.lastAllowed) {
            // A denied upgrade request: no tunnel can follow, the next bytes are a request.
            f.resume();
            break;
          }
          flush(pos);
          if (pos < buf.length) this.held = Buffer.from(buf.subarray(pos));
          else this.held = Buffer.alloc(0);
          this.io.pauseClient(P_UPGRADE);
          return;
        case rq.CLOSED:
          flush(pos);
          this.requestsDone = true;
          return;
        default:
          // What came before the bad bytes is complete and allowed; the rest never goes out.
          if (!this.forwarding) flush(pos);
          this.onRequestError(f);
          return;
      }
      pos = f.pos;
    }
  }

  private decide(head: RequestHead): Exchange<V> {
    const tHead = this.timed ? performance.now() : 0;
    const verdict = this.opts.decide(head);
    if (!this.draining && this.opts.draining?.() === true) this.draining = true;
    const draining = this.draining;
    const ex: Exchange<V> = {
      head,
      verdict,
      local: null,
      closeAfter: !head.keepAlive || draining,
      announceClose: draining && head.keepAlive,
      status: 0,
      answered: false,
      tHead,
      tForwarded: 0,
      tFirstByte: 0,
      tEnd: 0,
      skipped: undefined,
    };
    const forward = verdict.allowed && !head.escapedSlashes;
    this.lastAllowed = forward;
    if (forward) {
      this.forwarding = true;
      if (ex.closeAfter) this.lastRequest = true;
      if (this.io.upstream === null) this.up.open();
    } else {
      // A client waiting for 100 may never send the body: after the local reply the proxy
      // could not tell body from next request, so the connection ends there.
      if (head.expectContinue && head.framing !== "none") ex.closeAfter = true;
      const connection = ex.closeAfter ? "close" : head.minorVersion === 0 ? "keep-alive" : null;
      if (head.escapedSlashes) {
        ex.local = redirectResponse({ location: head.path, connection });
        ex.status = 307;
      } else {
        ex.local = deniedResponse({ headOnly: head.method === "HEAD", connection });
        ex.status = 403;
      }
      if (ex.closeAfter) this.requestsDone = true;
    }
    return ex;
  }

  private onRequestError(f: rq.RequestFramer): void {
    const err = f.error!;
    this.opts.onParseError?.(err.code);
    this.requestsDone = true;
    if (this.forwarding) {
      // The head already went upstream: cut both connections so it never completes there.
      this.host.abort();
      return;
    }
    this.queue.push(localExchange<V>(errorResponse(err.status === 502 ? 400 : err.status), err.status));
  }

  onClientEnd(): void {
    if (this.io.finished) return;
    this.clientEnded = true;
    // Held pipelined requests are still to be answered; releaseHeld() comes back here.
    if (this.heldForQueue) return;
    if (this.up.tunnel) {
      this.io.upstream?.end();
      return;
    }
    if (this.forwarding) {
      // The upstream has part of a request that can now never complete.
      this.host.abort();
      return;
    }
    this.requestsDone = true;
    if (this.queue.length === 0) this.host.closeGracefully();
  }

  // ---------------------------------------------------------------- draining, held bytes

  drain(): void {
    this.draining = true;
    this.settleLast();
  }

  /** A final response head is going out: opts.draining() may have turned true meanwhile. */
  checkDraining(): void {
    if (!this.draining && this.opts.draining?.() === true) {
      this.draining = true;
      this.settleLast();
    }
  }

  /** Draining: makes the newest request received the last one, or closes an idle connection. */
  private settleLast(): void {
    const f = this.reqs;
    // A head under way becomes the last request once complete (decide() sees `draining`).
    if (f.headInProgress) return;
    const last = this.queue.back();
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
    if (last === undefined && !f.midRequest && this.held === null) this.host.closeGracefully();
  }

  /** The queue is empty: close if no request is to come. */
  queueEmpty(): void {
    const done = this.requestsDone || (this.draining && !this.reqs.midRequest);
    if (done && !this.up.tunnel && this.held === null) this.host.closeGracefully();
  }

  /** The answer to an upgrade request was not a 101: what the client sent meanwhile is requests after all. */
  upgradeRefused(): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    this.reqs.resume();
    this.io.resumeClient(P_UPGRADE);
    if (held.length > 0) this.processClient(held, 0);
  }

  /** The connection became a tunnel: what the client sent after the upgrade request goes through raw. */
  takeHeldForTunnel(): Buffer | null {
    const held = this.held;
    this.held = null;
    return held;
  }

  /** An answer made room in the queue: parse the pipelined requests held back. */
  releaseHeldIfRoom(): void {
    if (!this.heldForQueue || this.io.finished || this.queue.full) return;
    const held = this.held!;
    this.held = null;
    this.heldForQueue = false;
    this.processClient(held, 0);
    if (this.clientEnded && !this.io.finished && !this.heldForQueue) this.onClientEnd();
  }

  /** The head under way did not complete in time. */
  headerTimedOut(): void {
    this.host.connectionError("L7P_ERR_TIMEOUT", "request head not complete in time");
    this.requestsDone = true;
    if (this.queue.length === 0) {
      this.io.writeClient(errorResponse(408));
      this.host.closeGracefully();
    } else {
      this.host.abort();
    }
  }
}
