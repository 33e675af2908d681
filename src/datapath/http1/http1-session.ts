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
// - Upgrade other than WebSocket (h2c above all): forwarded as plain HTTP/1.1, without the
//   Upgrade and HTTP2-Settings headers and their Connection tokens (request-head.ts); a 101
//   to a request that was not forwarded as a WebSocket upgrade is a protocol error: 502,
//   connection closed, nothing after it relayed.
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
//
// The session is built in layers, one concept each: session-core.ts (shared state, socket
// writes with backpressure, teardown), session-timers.ts, exchange-queue.ts (answer order,
// draining), upstream-side.ts (responses, tunnel), and this file (the client side).

import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { UpstreamSide } from "./upstream-side.js";
import { applyHeaderOps, withForwardTarget, withUpgradeStripped } from "./head-rewrite.js";
import { deniedResponse, errorResponse, redirectResponse } from "./local-replies.js";
import * as rq from "./request-framer.js";
import type { RequestHead } from "./request-head.js";
import { P_UPGRADE, type Exchange } from "./session-core.js";
import type { Http1SessionOptions, HttpDecision } from "./session-options.js";

export interface Http1Session {
  /** Close once idle: now if nothing is in flight, else after the requests in flight are answered. */
  drain(): void;
}

export function runHttp1Session<V extends HttpDecision>(client: Socket, opts: Http1SessionOptions<V>): Http1Session {
  return new Session(client, opts);
}

class Session<V extends HttpDecision> extends UpstreamSide<V> implements Http1Session {
  constructor(client: Socket, opts: Http1SessionOptions<V>) {
    super(client, opts);
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

  // ---------------------------------------------------------------- client -> upstream

  protected onClientData(buf: Buffer): void {
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

  protected processClient(buf: Buffer, pos: number): void {
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

  protected decide(head: RequestHead): Exchange<V> {
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

  protected onRequestError(f: rq.RequestFramer): void {
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

  protected onClientEnd(): void {
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
}
