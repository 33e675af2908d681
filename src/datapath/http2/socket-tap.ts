// The duplex an HTTP/2 session runs on: the connection's socket, with every byte in each
// direction shown to a frame scanner first. node:http2 reads a plain socket natively and
// reports only some frames to JavaScript; the proxy must see them all (END_STREAM, a
// client's floods, what nghttp2 refuses on its own) to enforce and count. The scanners look
// at frame headers only; a scanner that stops (a limit was passed) stops the inbound bytes
// before the session sees them and calls onStop.
//
// Bytes already read from the socket (the sniffed preface) are replayed first. Backpressure
// runs both ways: a full session pauses the socket; writes are corked into one syscall.

import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import type { FrameScanner } from "./frame-scanner.js";

/** How long a socket whose peer stopped reading may take to flush the last frames. */
const CLOSE_GRACE_MS = 1000;

export class SocketTap extends Duplex {
  onStop: () => void = () => {};
  #stopped = false;

  constructor(
    private readonly socket: Socket,
    private readonly inbound: FrameScanner | null,
    private readonly outbound: FrameScanner | null,
    replay: Buffer | null = null,
  ) {
    super({ allowHalfOpen: true, decodeStrings: false });
    if (replay !== null && replay.length > 0) this.#in(replay);
    socket.on("data", (d: Buffer) => this.#in(d));
    socket.on("end", () => this.push(null));
    socket.on("error", (err) => this.destroy(err));
    socket.on("close", () => this.destroy());
  }

  #in(d: Buffer): void {
    if (this.#stopped) return;
    if (this.inbound !== null && !this.inbound.push(d)) {
      this.#stopped = true;
      this.socket.pause();
      this.onStop();
      return;
    }
    if (!this.push(d)) this.socket.pause();
  }

  override _read(): void {
    if (!this.#stopped) this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.outbound?.push(chunk);
    this.socket.write(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    const s = this.socket;
    s.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) {
      this.outbound?.push(chunks[i]!.chunk);
      s.write(chunks[i]!.chunk);
    }
    this.outbound?.push(chunks[last]!.chunk);
    s.write(chunks[last]!.chunk, cb);
    s.uncork();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const s = this.socket;
    if (!s.destroyed) {
      // Let the last frames (a GOAWAY) reach the peer, within a bound.
      s.end();
      const t = setTimeout(() => s.destroy(), CLOSE_GRACE_MS);
      t.unref();
      s.once("close", () => clearTimeout(t));
    }
    cb(err);
  }
}
