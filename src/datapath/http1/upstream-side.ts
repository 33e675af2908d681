// The upstream side of a session: connecting (reads land in one reused buffer), framing
// responses and writing them to the client in request order, upstream failures, and the raw
// tunnel after a 101 to an allowed upgrade.

import { performance } from "node:perf_hooks";
import type { ErrorCode } from "../../errors/codes.js";
import type { ExchangeQueue } from "../exchange-queue.js";
import type { Exchange } from "./http1-exchange.js";
import { withConnectionClose } from "./response-close.js";
import * as rs from "./response-framer.js";
import type { SessionControl } from "./session-control.js";
import type { Http1SessionOptions, HttpDecision } from "./session-options.js";
import type { SocketPair } from "./socket-pair.js";

/** Size of the buffer the upstream is read into (Node's own read size). */
const UPSTREAM_READ_BYTES = 64 * 1024;

/** What the upstream side asks of the session besides SessionControl. */
export interface UpstreamHost<V> extends SessionControl<V> {
  /** The front exchange's response ended: it is answered. */
  complete(): void;
  /** A final response head is going out: if the proxy started draining, settle the last request now. */
  checkDraining(): void;
  /** A 101 to an allowed upgrade went out (with `rest`, what followed it): the connection is a tunnel now. */
  tunnelOpened(rest: Buffer): void;
}

export class UpstreamSide<V extends HttpDecision> {
  readonly resps = new rs.ResponseFramer();
  /** After a 101 to an allowed upgrade: bytes flow both ways unparsed. */
  tunnel = false;
  /** Date.now() when the upstream last sent something. */
  upstreamActiveAt = 0;
  private upstreamGone = false;
  /** Where the upstream socket reads to (see open); null: allocate a new one. */
  private upstreamReadBuf: Buffer | null = null;
  private readonly timed: boolean;

  constructor(
    private readonly io: SocketPair,
    private readonly queue: ExchangeQueue<Exchange<V>>,
    private readonly host: UpstreamHost<V>,
    private readonly opts: Http1SessionOptions<V>,
  ) {
    this.timed = opts.onRequest !== undefined;
  }

  /** The front exchange is one the upstream answers: the framer learns what the request was. */
  expect(ex: Exchange<V>): void {
    if (this.resps.idle) this.resps.begin({ isHead: ex.head!.method === "HEAD", upgrade: ex.head!.upgrade });
  }

  open(): void {
    const up = this.opts.connectUpstream({
      buffer: () => (this.upstreamReadBuf ??= Buffer.allocUnsafe(UPSTREAM_READ_BYTES)),
      callback: (n: number, buf: Uint8Array) => {
        this.host.guard(() => this.onUpstreamData((buf as Buffer).subarray(0, n)));
        // Slices of the buffer went to the client socket; if any is still queued there, the
        // next read must not overwrite it: that read gets a fresh buffer. (Everything else
        // the framer keeps across reads, an unfinished head, is a copy.)
        if (this.io.client.writableLength > 0) this.upstreamReadBuf = null;
        return true;
      },
    });
    this.io.upstream = up;
    // Only sockets opened without `onread` emit data events.
    up.on("data", (buf: Buffer) => this.host.guard(() => this.onUpstreamData(buf)));
    up.on("end", () => this.host.guard(() => this.onUpstreamGone(true, "")));
    up.on("error", (err) => this.host.guard(() => this.onUpstreamGone(false, err.message)));
    up.on("close", () => this.host.guard(() => this.onUpstreamGone(false, "upstream closed")));
    up.on("drain", () => this.io.onUpstreamDrain());
  }

  private onUpstreamData(buf: Buffer): void {
    if (this.io.finished) return;
    this.upstreamActiveAt = Date.now();
    if (this.tunnel) {
      this.io.writeClient(buf);
      return;
    }
    const f = this.resps;
    let pos = 0;
    let outStart = -1;
    const flush = (end: number) => {
      if (outStart >= 0 && end > outStart) this.io.writeClient(outStart === 0 && end === buf.length ? buf : buf.subarray(outStart, end));
      outStart = -1;
    };
    for (;;) {
      const ex = this.queue.front();
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
          if (h.status >= 200) this.host.checkDraining();
          if (ex.announceClose && h.status >= 200 && h.keepAlive) {
            flush(pos);
            this.io.writeClient(withConnectionClose(h.raw));
          } else if (f.headInChunk) {
            if (outStart < 0) outStart = f.headStart;
          } else {
            flush(pos);
            this.io.writeClient(h.raw);
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
          const next = this.queue.at(1);
          if (next === undefined || next.local !== null || ex.closeAfter || ex.head?.upgrade === true) flush(f.pos);
          this.host.complete();
          if (this.io.finished) return;
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
            this.io.writeClient(f.head!.raw);
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

  private startTunnel(rest: Buffer): void {
    const ex = this.queue.takeFront()!;
    this.host.report(ex);
    this.tunnel = true;
    this.host.tunnelOpened(rest);
  }

  private onUpstreamGone(clean: boolean, detail: string): void {
    if (this.io.finished || this.upstreamGone) return;
    this.upstreamGone = true;
    if (this.tunnel) {
      if (clean) this.io.client.end();
      else this.host.abort();
      return;
    }
    const ex = this.queue.front();
    if (clean && this.resps.endOfStream() && ex !== undefined && ex.local === null && ex.answered) {
      // A body that runs until close has ended.
      ex.closeAfter = true;
      this.host.complete();
      return;
    }
    if (ex === undefined || ex.local !== null) {
      // Nothing awaited from the upstream: the connection simply ends, as it would have.
      this.host.closeGracefully();
      return;
    }
    this.upstreamFailure("L7P_ERR_UPSTREAM_CONNECT", detail || "upstream closed before the response ended");
  }

  private upstreamFailure(code: ErrorCode, detail: string): void {
    this.host.connectionError(code, detail);
    const ex = this.queue.front();
    if (ex !== undefined && ex.local === null && !ex.answered) {
      // Nothing of the answer was sent yet: say so, the way Envoy does (503 when the upstream
      // went away, 502 when it answered something that is not an HTTP/1 response for this
      // request, such as a 101 to a request not forwarded as an upgrade), then close.
      this.host.answerOldestAndClose(ex, code === "L7P_ERR_UPSTREAM_CONNECT" ? 503 : 502);
      return;
    }
    this.host.abort();
  }
}
