// One client connection carrying HTTP/1.x, enforced request by request:
//
//   client bytes ─► request framer ─► HEAD: decide ─┬─ allowed: head (rewritten only for header
//                                                    │  ops or a normalized path) and body bytes to
//                                                    │  the upstream, as the original Buffer slices
//                                                    └─ denied: 403 queued, body read and dropped
//   upstream bytes ─► response framer ─► client, in request order, local replies slotted in
//
// The queue holds every decided request until its answer is fully written, so a 403 for a
// request pipelined behind allowed ones waits for their responses. Backpressure runs both
// ways (a full socket pauses the other side's reads), the queue length and head size are
// bounded, and a 101 to an allowed upgrade turns the connection into a raw tunnel.
//
// Decisions that are not obvious:
// - Policy decides on the normalized path (path-normalize.ts), and an allowed request goes
//   upstream with that target, so the upstream never reads a path other than the one decided
//   on. A path with %2F or %5C gets Envoy's 307 to its normalized form, whatever the verdict
//   (Envoy redirects before policy runs); it is still decided, for the flow record.
// - Denied request with `Expect: 100-continue` and a body: the 403 says connection: close and
//   the connection closes after it (RFC 9110 §10.1.1 lets the client skip the body, so the
//   proxy could not tell where the next request starts).
// - Hostile or unparsable request: 400/431/505 with connection: close, after the answers to
//   earlier requests; nothing of it or after it is forwarded. If the error is inside the body
//   of a request already being forwarded, both connections are reset at once, so the
//   upstream never sees that request complete.
// - Upstream failure before any byte of the response: 503 "upstream connect error or
//   disconnect/reset before headers" with connection: close, as Envoy answers; after the
//   response started, the client connection is reset. The upstream is not reconnected.
// - Draining (drain(), or opts.draining() turning true): every request already received is
//   still answered; the answer to the last one says Connection: close (only that header of
//   the upstream's head is rewritten, see response-close.ts) and the connection closes after
//   it. A head arriving when drain() is called counts as received. An idle connection closes
//   at once. If the answer to the last request had already started when draining began, the
//   connection stays readable until that answer ends: a request arriving meanwhile is
//   answered with close, else the connection closes once idle. Tunnels are not drained.
// - Request timeout (Envoy's route timeout; Cilium sets 3600 s): from the end of a forwarded
//   request to the end of its response. Past it, a 504 "upstream request timeout" with
//   connection: close if no response head was sent yet, else both connections are cut. One lazily re-armed
//   timer per connection, checked against the oldest request waiting, not one per request.
// - At most maxPipelined requests are decided ahead of their answers: the bytes after that
//   are held, unread, until an answer completes (a read holding thousands of tiny pipelined
//   requests cannot queue thousands of exchanges).
// - Internal error (a throwing decide, a bad header op, a bug): both connections are reset.
// - The client socket should be created with allowHalfOpen, so a client that shuts down its
//   sending side after its last request still gets the answers.

import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { L7ProxyError, type ErrorCode } from "../../errors/codes.js";
import { applyHeaderOps, withForwardTarget } from "./head-rewrite.js";
import { deniedResponse, errorResponse, redirectResponse } from "./local-replies.js";
import * as rq from "./request-framer.js";
import type { RequestHead } from "./request-head.js";
import { withConnectionClose } from "./response-close.js";
import * as rs from "./response-framer.js";
import { SESSION_DEFAULTS, type Http1RequestRecord, type Http1SessionOptions, type HttpDecision } from "./session-options.js";

interface Exchange<V> {
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
const P_UPSTREAM_FULL = 1;
const P_QUEUE_FULL = 2;
const P_UPGRADE = 4;
const P_CLIENT_FULL = 8;

/** Size of the buffer the upstream is read into (Node's own read size). */
const UPSTREAM_READ_BYTES = 64 * 1024;

/** How long a closed connection keeps draining what the client still sends. */
const LINGER_MS = 2_000;

export interface Http1Session {
  /** Close once idle: now if nothing is in flight, else after the requests in flight are answered. */
  drain(): void;
}

export function runHttp1Session<V extends HttpDecision>(client: Socket, opts: Http1SessionOptions<V>): Http1Session {
  return new Session(client, opts);
}

class Session<V extends HttpDecision> implements Http1Session {
  private readonly reqs: rq.RequestFramer;
  private readonly resps = new rs.ResponseFramer();
  private readonly queue: Exchange<V>[] = [];
  private upstream: Socket | null = null;
  private upstreamGone = false;
  /** Between the head and the end of an allowed request: its body goes to the upstream. */
  private forwarding = false;
  /** Whether the last decided request was allowed (an allowed upgrade waits for the response). */
  private lastAllowed = false;
  /** The request being read is the connection's last (draining, or it asked to close). */
  private lastRequest = false;
  private clientEnded = false;
  /** No more requests are read: after Connection: close, an error, or a closing 403. */
  private requestsDone = false;
  private finished = false;
  private tunnel = false;
  /** Set once drain() was called or opts.draining() was seen true. */
  private draining = false;
  /** Client bytes not parsed yet: after an upgrade request (tunnel or more requests), or past maxPipelined. */
  private held: Buffer | null = null;
  /** `held` waits for room in the queue (not for the answer to an upgrade). */
  private heldForQueue = false;
  private clientPause = 0;
  private upstreamPaused = false;
  private waitingUpstreamDrain = false;
  private waitingClientDrain = false;
  private headerTimer: NodeJS.Timeout | null = null;
  private requestTimer: NodeJS.Timeout | null = null;
  private readonly requestTimeoutMs: number;
  private upstreamActiveAt = 0;
  /** Where the upstream socket reads to (see openUpstream); null: allocate a new one. */
  private upstreamReadBuf: Buffer | null = null;
  private readonly timed: boolean;
  private readonly headerTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly maxPipelined: number;

  constructor(
    private readonly client: Socket,
    private readonly opts: Http1SessionOptions<V>,
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
    client.on("data", (buf: Buffer) => this.guard(() => this.onClientData(buf)));
    client.on("end", () => this.guard(() => this.onClientEnd()));
    client.on("error", () => this.abort());
    client.on("close", () => this.abort());
    client.on("drain", () => this.onClientDrain());
    if (this.idleTimeoutMs > 0) {
      client.setTimeout(this.idleTimeoutMs);
      client.on("timeout", () => this.guard(() => this.onIdle()));
    }
  }

  drain(): void {
    if (this.finished || this.tunnel) return;
    this.draining = true;
    this.settleLast();
  }

  /** Draining: makes the newest request received the last one, or closes an idle connection. */
  private settleLast(): void {
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

  // ---------------------------------------------------------------- client -> upstream

  private onClientData(buf: Buffer): void {
    if (this.finished) return;
    if (this.tunnel) {
      this.writeUpstream(buf);
      return;
    }
    if (this.requestsDone) return;
    if (this.held !== null) {
      this.held = Buffer.concat([this.held, buf]);
      return;
    }
    this.processClient(buf, 0);
  }

  private processClient(buf: Buffer, pos: number): void {
    const f = this.reqs;
    let fwdStart = -1;
    const flush = (end: number) => {
      if (fwdStart >= 0 && end > fwdStart) this.writeUpstream(fwdStart === 0 && end === buf.length ? buf : buf.subarray(fwdStart, end));
      fwdStart = -1;
    };
    for (;;) {
      const ev = f.execute(buf, pos);
      switch (ev) {
        case rq.NEED_MORE:
          // Not buf.length: the bytes of an unfinished head are held by the framer, undecided.
          flush(pos);
          this.armHeaderTimer();
          return;
        case rq.HEAD: {
          this.clearHeaderTimer();
          const head = f.head!;
          const ex = this.decide(head);
          if (this.finished) return;
          if (ex.local === null) {
            const ops = ex.verdict!.headerOps;
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
              this.writeUpstream(raw);
            }
            if (this.timed) ex.tForwarded = performance.now();
          } else {
            flush(pos);
          }
          this.enqueue(ex);
          if (this.requestsDone || this.finished) return;
          break;
        }
        case rq.BODY:
          if (this.forwarding) {
            if (fwdStart < 0) fwdStart = f.bodyStart;
          }
          break;
        case rq.END:
          if (this.forwarding && this.requestTimeoutMs > 0) this.startRequestClock();
          this.forwarding = false;
          if (this.lastRequest) {
            flush(f.pos);
            this.requestsDone = true;
            // Answered before its body ended: nothing is left to wait for.
            if (this.queue.length === 0) this.closeGracefully();
            return;
          }
          if (this.draining && this.queue.length === 0) {
            flush(f.pos);
            this.closeGracefully();
            return;
          }
          if (this.queue.length >= this.maxPipelined && f.pos < buf.length && f.head!.keepAlive && !f.head!.upgrade) {
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
          this.pauseClient(P_UPGRADE);
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
      if (this.upstream === null) this.openUpstream();
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
      this.abort();
      return;
    }
    this.enqueue(this.localExchange(errorResponse(err.status === 502 ? 400 : err.status), err.status));
  }

  private localExchange(reply: Buffer, status: number): Exchange<V> {
    return {
      head: null, verdict: null, local: reply, closeAfter: true, announceClose: false, status, answered: false,
      tHead: 0, tForwarded: 0, tFirstByte: 0, tEnd: 0, skipped: undefined,
    };
  }

  private enqueue(ex: Exchange<V>): void {
    this.queue.push(ex);
    if (this.queue.length === 1) this.advance();
    if (this.queue.length >= this.maxPipelined) this.pauseClient(P_QUEUE_FULL);
  }

  private onClientEnd(): void {
    if (this.finished) return;
    this.clientEnded = true;
    // Held pipelined requests are still to be answered; releaseHeld() comes back here.
    if (this.heldForQueue) return;
    if (this.tunnel) {
      this.upstream?.end();
      return;
    }
    if (this.forwarding) {
      // The upstream has part of a request that can now never complete.
      this.abort();
      return;
    }
    this.requestsDone = true;
    if (this.queue.length === 0) this.closeGracefully();
  }

  // ---------------------------------------------------------------- upstream -> client

  private openUpstream(): void {
    const up = this.opts.connectUpstream({
      buffer: () => (this.upstreamReadBuf ??= Buffer.allocUnsafe(UPSTREAM_READ_BYTES)),
      callback: (n: number, buf: Uint8Array) => {
        this.guard(() => this.onUpstreamData((buf as Buffer).subarray(0, n)));
        // Slices of the buffer went to the client socket; if any is still queued there, the
        // next read must not overwrite it: that read gets a fresh buffer. (Everything else
        // the framer keeps across reads, an unfinished head, is a copy.)
        if (this.client.writableLength > 0) this.upstreamReadBuf = null;
        return true;
      },
    });
    this.upstream = up;
    // Only sockets opened without `onread` emit data events.
    up.on("data", (buf: Buffer) => this.guard(() => this.onUpstreamData(buf)));
    up.on("end", () => this.guard(() => this.onUpstreamGone(true, "")));
    up.on("error", (err) => this.guard(() => this.onUpstreamGone(false, err.message)));
    up.on("close", () => this.guard(() => this.onUpstreamGone(false, "upstream closed")));
    up.on("drain", () => {
      this.waitingUpstreamDrain = false;
      this.resumeClient(P_UPSTREAM_FULL);
    });
  }

  private onUpstreamData(buf: Buffer): void {
    if (this.finished) return;
    this.upstreamActiveAt = Date.now();
    if (this.tunnel) {
      this.writeClient(buf);
      return;
    }
    const f = this.resps;
    let pos = 0;
    let outStart = -1;
    const flush = (end: number) => {
      if (outStart >= 0 && end > outStart) this.writeClient(outStart === 0 && end === buf.length ? buf : buf.subarray(outStart, end));
      outStart = -1;
    };
    for (;;) {
      const ex = this.queue[0];
      if (ex === undefined || ex.local !== null) {
        flush(pos);
        if (pos < buf.length) this.upstreamFailure("L7P_ERR_HTTP_RESPONSE", "response bytes with no request waiting");
        return;
      }
      const ev = f.execute(buf, pos);
      switch (ev) {
        case rs.NEED_MORE:
          // An unfinished head is held by the framer and written whole once complete.
          flush(pos);
          return;
        case rs.HEAD: {
          const h = f.head!;
          if (h.status >= 200 && !this.draining && this.opts.draining?.() === true) {
            this.draining = true;
            this.settleLast();
          }
          if (ex.announceClose && h.status >= 200 && h.keepAlive) {
            flush(pos);
            this.writeClient(withConnectionClose(h.raw));
          } else if (f.headInChunk) {
            if (outStart < 0) outStart = f.headStart;
          } else {
            flush(pos);
            this.writeClient(h.raw);
          }
          ex.answered = true;
          if (h.status >= 200) {
            ex.status = h.status;
            if (!h.keepAlive) ex.closeAfter = true;
            if (this.timed) ex.tFirstByte = performance.now();
          }
          break;
        }
        case rs.BODY:
          if (outStart < 0) outStart = f.bodyStart;
          break;
        case rs.END: {
          // The run of bytes continues into the next response only if one is coming.
          const next = this.queue[1];
          if (next === undefined || next.local !== null || ex.closeAfter || ex.head?.upgrade === true) flush(f.pos);
          this.complete();
          if (this.finished) return;
          break;
        }
        case rs.UPGRADE:
          ex.answered = true;
          ex.status = 101;
          if (f.headInChunk) {
            if (outStart < 0) outStart = f.headStart;
            flush(f.pos);
          } else {
            flush(pos);
            this.writeClient(f.head!.raw);
          }
          this.startTunnel(buf.subarray(f.pos));
          return;
        default:
          flush(pos);
          this.upstreamFailure(f.error!.code, f.error!.message);
          return;
      }
      pos = f.pos;
    }
  }

  /** The exchange at the front of the queue is fully answered. */
  private complete(): void {
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
  private advance(): void {
    this.answerLocals();
    if (this.heldForQueue && !this.finished && this.queue.length < this.maxPipelined) this.releaseHeld();
  }

  private answerLocals(): void {
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
  private releaseHeld(): void {
    const held = this.held!;
    this.held = null;
    this.heldForQueue = false;
    this.processClient(held, 0);
    if (this.clientEnded && !this.finished && !this.heldForQueue) this.onClientEnd();
  }

  private startTunnel(rest: Buffer): void {
    const ex = this.queue.shift()!;
    this.report(ex);
    this.tunnel = true;
    this.clearHeaderTimer();
    if (rest.length > 0) this.writeClient(rest);
    const held = this.held;
    this.held = null;
    if (held !== null && held.length > 0) this.writeUpstream(held);
    if (this.clientEnded) this.upstream?.end();
    this.resumeClient(P_UPGRADE | P_QUEUE_FULL);
  }

  private onUpstreamGone(clean: boolean, detail: string): void {
    if (this.finished || this.upstreamGone) return;
    this.upstreamGone = true;
    if (this.tunnel) {
      if (clean) this.client.end();
      else this.abort();
      return;
    }
    const ex = this.queue[0];
    if (clean && this.resps.endOfStream() && ex !== undefined && ex.local === null && ex.answered) {
      // A body that runs until close has ended.
      ex.closeAfter = true;
      this.complete();
      return;
    }
    if (ex === undefined || ex.local !== null) {
      // Nothing awaited from the upstream: the connection simply ends, as it would have.
      this.closeGracefully();
      return;
    }
    this.upstreamFailure("L7P_ERR_UPSTREAM_CONNECT", detail || "upstream closed before the response ended");
  }

  private upstreamFailure(code: ErrorCode, detail: string): void {
    this.opts.onConnectionError?.(code, detail);
    const ex = this.queue[0];
    if (ex !== undefined && ex.local === null && !ex.answered && code === "L7P_ERR_UPSTREAM_CONNECT") {
      // Nothing of the answer was sent yet: say so, the way Envoy does, then close.
      this.queue.shift();
      ex.status = 503;
      ex.answered = true;
      this.writeClient(errorResponse(503, ex.head?.method === "HEAD"));
      this.report(ex);
      this.closeGracefully();
      return;
    }
    this.abort();
  }

  // ---------------------------------------------------------------- flow control, timers, teardown

  private writeUpstream(buf: Buffer): void {
    const up = this.upstream;
    if (up === null || up.destroyed) return;
    if (!up.write(buf) && !this.waitingUpstreamDrain) {
      this.waitingUpstreamDrain = true;
      this.pauseClient(P_UPSTREAM_FULL);
    }
  }

  private writeClient(buf: Buffer): void {
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

  private onClientDrain(): void {
    this.waitingClientDrain = false;
    if (this.upstreamPaused) {
      this.upstreamPaused = false;
      this.upstream?.resume();
    }
    this.resumeClient(P_CLIENT_FULL);
  }

  private pauseClient(reason: number): void {
    if (this.clientPause === 0) this.client.pause();
    this.clientPause |= reason;
  }

  private resumeClient(reason: number): void {
    if ((this.clientPause & reason) === 0) return;
    this.clientPause &= ~reason;
    if (this.clientPause === 0 && !this.finished) this.client.resume();
  }

  private armHeaderTimer(): void {
    if (this.headerTimer !== null || this.headerTimeoutMs <= 0 || !this.reqs.headInProgress) return;
    this.headerTimer = setTimeout(() => this.guard(() => this.onHeaderTimeout()), this.headerTimeoutMs);
  }

  private clearHeaderTimer(): void {
    if (this.headerTimer !== null) {
      clearTimeout(this.headerTimer);
      this.headerTimer = null;
    }
  }

  private onHeaderTimeout(): void {
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
  private startRequestClock(): void {
    const ex = this.queue[this.queue.length - 1];
    // Absent when the response completed before the request did.
    if (ex === undefined || ex.local !== null || ex.tEnd !== 0) return;
    ex.tEnd = Date.now();
    if (this.requestTimer === null) this.armRequestTimer(this.requestTimeoutMs);
  }

  private armRequestTimer(ms: number): void {
    this.requestTimer = setTimeout(() => this.guard(() => this.onRequestTimer()), ms);
  }

  private onRequestTimer(): void {
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
    this.queue.shift();
    ex.status = 504;
    ex.answered = true;
    this.writeClient(errorResponse(504, ex.head?.method === "HEAD"));
    this.report(ex);
    this.closeGracefully();
  }

  private onIdle(): void {
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

  private report(ex: Exchange<V>): void {
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
  private closeGracefully(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearHeaderTimer();
    if (this.requestTimer !== null) clearTimeout(this.requestTimer);
    this.client.end();
    this.client.resume();
    setTimeout(() => this.client.destroy(), LINGER_MS).unref();
    this.upstream?.destroy();
    this.reportAborted();
  }

  /** Resets both connections at once. */
  private abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearHeaderTimer();
    if (this.requestTimer !== null) clearTimeout(this.requestTimer);
    this.client.destroy();
    this.upstream?.destroy();
    this.reportAborted();
  }

  private reportAborted(): void {
    for (const ex of this.queue.splice(0)) this.report(ex);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const code = err instanceof L7ProxyError ? err.code : "L7P_ERR_INTERNAL";
      this.opts.onConnectionError?.(code, err instanceof Error ? err.message : String(err));
      this.abort();
    }
  }
}
