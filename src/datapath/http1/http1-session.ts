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
// The session is composed of one object per concept, each in its own file, wired together
// here (no class inherits from another). A part asks the session as a whole through a small
// interface (SessionControl, UpstreamHost, TimersHost, ExchangeQueueHost: the Session
// implements them) and reads its neighbours only through their few public members (the
// pair's `finished`, the upstream side's `tunnel`, the queue's front and back):
//   socket-pair.ts     the two sockets: writes with backpressure, pause reasons, closing
//   ../exchange-queue.ts  the protocol-neutral in-order queue: answer order, the pipelining
//                      bound (pauses client reads), local replies written when they reach the front
//   client-side.ts     requests: framing, deciding, forwarding, the last request, held bytes
//   upstream-side.ts   responses, the tunnel, upstream failures
//   session-timers.ts  header, request and idle timeouts
//   http1-exchange.ts  one request and its answer; its record
// The Session object below owns what spans them: completing an exchange, teardown (which
// reports every unanswered exchange once), the fail-closed guard, and drain(). Each part
// keeps direct references to the others it uses, so the per-read loops reach a field
// through one typed hop and nothing is allocated per request beyond the exchange itself.

import type { Socket } from "node:net";
import { L7ProxyError, type ErrorCode } from "../../errors/codes.js";
import { ExchangeQueue, type ExchangeQueueHost } from "../exchange-queue.js";
import { ClientSide } from "./client-side.js";
import { reportExchange, type Exchange } from "./http1-exchange.js";
import { errorResponse } from "./local-replies.js";
import type { SessionControl } from "./session-control.js";
import { SESSION_DEFAULTS, type Http1SessionOptions, type HttpDecision } from "./session-options.js";
import { SessionTimers, type TimersHost } from "./session-timers.js";
import { P_QUEUE_FULL, P_UPGRADE, SocketPair } from "./socket-pair.js";
import { UpstreamSide, type UpstreamHost } from "./upstream-side.js";

export interface Http1Session {
  /** Close once idle: now if nothing is in flight, else after the requests in flight are answered. */
  drain(): void;
}

export function runHttp1Session<V extends HttpDecision>(client: Socket, opts: Http1SessionOptions<V>): Http1Session {
  return new Session(client, opts);
}

class Session<V extends HttpDecision>
  implements Http1Session, SessionControl<V>, ExchangeQueueHost<Exchange<V>>, UpstreamHost<V>, TimersHost<V>
{
  private readonly io: SocketPair;
  private readonly queue: ExchangeQueue<Exchange<V>>;
  private readonly up: UpstreamSide<V>;
  private readonly timers: SessionTimers<V>;
  private readonly cs: ClientSide<V>;

  constructor(
    client: Socket,
    private readonly opts: Http1SessionOptions<V>,
  ) {
    this.io = new SocketPair(client);
    this.queue = new ExchangeQueue<Exchange<V>>(this, opts.maxPipelined ?? SESSION_DEFAULTS.maxPipelined);
    this.up = new UpstreamSide(this.io, this.queue, this, opts);
    this.timers = new SessionTimers(
      this.io,
      this.queue,
      this,
      opts.headerTimeoutMs ?? SESSION_DEFAULTS.headerTimeoutMs,
      opts.requestTimeoutMs ?? SESSION_DEFAULTS.requestTimeoutMs,
      opts.idleTimeoutMs ?? SESSION_DEFAULTS.idleTimeoutMs,
    );
    const cs = new ClientSide(this.io, this.queue, this.timers, this.up, this, opts);
    this.cs = cs;
    client.on("data", (buf: Buffer) => this.guard(() => cs.onClientData(buf)));
    client.on("end", () => this.guard(() => cs.onClientEnd()));
    client.on("error", () => this.abort());
    client.on("close", () => this.abort());
    client.on("drain", () => this.io.onClientDrain());
  }

  drain(): void {
    if (this.io.finished || this.up.tunnel) return;
    this.cs.drain();
  }

  // ---------------------------------------------------------------- exchanges

  report(ex: Exchange<V>): void {
    reportExchange(this.opts.onRequest, ex);
  }

  /** The front exchange's response ended (UpstreamHost). */
  complete(): void {
    const ex = this.queue.takeFront()!;
    this.report(ex);
    if (ex.closeAfter) {
      this.closeGracefully();
      return;
    }
    if (ex.head?.upgrade === true) {
      // The upgrade was refused: what the client sent meanwhile is requests after all.
      this.cs.upgradeRefused();
      if (this.io.finished) return;
    }
    this.queue.advance();
    this.cs.releaseHeldIfRoom();
  }

  answerOldestAndClose(ex: Exchange<V>, status: 502 | 503 | 504): void {
    this.queue.takeFront();
    ex.status = status;
    ex.answered = true;
    this.io.writeClient(errorResponse(status, ex.head?.method === "HEAD"));
    this.report(ex);
    this.closeGracefully();
  }

  // ExchangeQueueHost: the queue decides when, the session writes and reports.
  writeLocal(ex: Exchange<V>): void {
    ex.answered = true;
    this.io.writeClient(ex.local!);
  }

  finished(ex: Exchange<V>): void {
    this.report(ex);
  }

  pauseReads(): void {
    this.io.pauseClient(P_QUEUE_FULL);
  }

  resumeReads(): void {
    this.io.resumeClient(P_QUEUE_FULL);
  }

  closeAfter(): void {
    this.closeGracefully();
  }

  idle(): void {
    this.cs.queueEmpty();
  }

  awaitingUpstream(ex: Exchange<V>): void {
    this.up.expect(ex);
  }

  // UpstreamHost
  checkDraining(): void {
    this.cs.checkDraining();
  }

  tunnelOpened(rest: Buffer): void {
    this.timers.clearHeaderTimer();
    if (rest.length > 0) this.io.writeClient(rest);
    const held = this.cs.takeHeldForTunnel();
    if (held !== null && held.length > 0) this.io.writeUpstream(held);
    if (this.cs.clientEnded) this.io.upstream?.end();
    this.io.resumeClient(P_UPGRADE | P_QUEUE_FULL);
  }

  // TimersHost
  get tunnel(): boolean {
    return this.up.tunnel;
  }

  get upstreamActiveAt(): number {
    return this.up.upstreamActiveAt;
  }

  get midRequest(): boolean {
    return this.cs.reqs.midRequest;
  }

  headerTimedOut(): void {
    this.cs.headerTimedOut();
  }

  // ---------------------------------------------------------------- teardown

  connectionError(code: ErrorCode, detail: string): void {
    this.opts.onConnectionError?.(code, detail);
  }

  closeGracefully(): void {
    if (!this.io.closeGracefully()) return;
    this.timers.stop();
    this.queue.abandon();
  }

  abort(): void {
    if (!this.io.abort()) return;
    this.timers.stop();
    this.queue.abandon();
  }

  guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      const code = err instanceof L7ProxyError ? err.code : "L7P_ERR_INTERNAL";
      this.connectionError(code, err instanceof Error ? err.message : String(err));
      this.abort();
    }
  }
}
