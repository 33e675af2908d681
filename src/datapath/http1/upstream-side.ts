// The upstream side of a session: connecting (reads land in one reused buffer), framing
// responses and writing them to the client in request order, upstream failures, and the raw
// tunnel after a 101 to an allowed upgrade.

import { performance } from "node:perf_hooks";
import type { ErrorCode } from "../../errors/codes.js";
import { ExchangeQueue } from "./exchange-queue.js";
import { withConnectionClose } from "./response-close.js";
import * as rs from "./response-framer.js";
import { P_QUEUE_FULL, P_UPGRADE, P_UPSTREAM_FULL } from "./session-core.js";
import type { HttpDecision } from "./session-options.js";

/** Size of the buffer the upstream is read into (Node's own read size). */
const UPSTREAM_READ_BYTES = 64 * 1024;

export abstract class UpstreamSide<V extends HttpDecision> extends ExchangeQueue<V> {
  protected openUpstream(): void {
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

  protected onUpstreamData(buf: Buffer): void {
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

  protected startTunnel(rest: Buffer): void {
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

  protected onUpstreamGone(clean: boolean, detail: string): void {
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

  protected upstreamFailure(code: ErrorCode, detail: string): void {
    this.opts.onConnectionError?.(code, detail);
    const ex = this.queue[0];
    if (ex !== undefined && ex.local === null && !ex.answered) {
      // Nothing of the answer was sent yet: say so, the way Envoy does (503 when the upstream
      // went away, 502 when it answered something that is not an HTTP/1 response for this
      // request, such as a 101 to a request not forwarded as an upgrade), then close.
      this.answerOldestAndClose(ex, code === "L7P_ERR_UPSTREAM_CONNECT" ? 503 : 502);
      return;
    }
    this.abort();
  }
}
