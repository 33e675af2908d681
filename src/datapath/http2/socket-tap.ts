// The duplex an HTTP/2 session runs on: the connection's socket, with every byte in each
// direction shown to a frame scanner first. node:http2 reads a plain socket natively and
// reports only some frames to JavaScript; the proxy must see them all (END_STREAM, a
// client's floods, what nghttp2 refuses on its own) to enforce and count. The scanners look
// at frame headers only; a scanner that stops (a limit was passed) stops the inbound bytes
// before the session sees them and calls onStop.
//
// Bytes already read from the socket (the sniffed preface) are replayed first, by start(). Backpressure
// runs both ways: a full session pauses the socket; writes are corked into one syscall.

import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import type { FrameScanner } from "./frame-scanner.js";

/** How long a socket whose peer stopped reading may take to flush the last frames. */
const CLOSE_GRACE_MS = 1000;

export class SocketTap extends Duplex {
  onStop: () => void = () => {};
  #stopped = false;
  /** terminate() was called: nothing more goes to the socket. */
  #dead = false;

  constructor(
    private readonly socket: Socket,
    private readonly inbound: FrameScanner | null,
    private readonly outbound: FrameScanner | null,
  ) {
    super({ allowHalfOpen: true, decodeStrings: false });
  }

  /**
   * Starts reading, `replay` first. Separate from the constructor so that a limit passed in
   * the very first bytes finds the session and onStop in place.
   */
  start(replay: Buffer | null = null): void {
    const socket = this.socket;
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

  /**
   * Ends the connection: `last` (a GOAWAY) is the last frame written, after what was already
   * written; the session's later writes are dropped, and inbound bytes are no longer read.
   */
  terminate(last: Buffer | null): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#stopped = true;
    const s = this.socket;
    if (s.destroyed) return;
    if (last !== null) s.write(last);
    s.end();
    const t = setTimeout(() => s.destroy(), CLOSE_GRACE_MS);
    t.unref();
    s.once("close", () => clearTimeout(t));
  }

  // Bytes are written first and scanned after, so a scanner that ends the connection on what
  // it sees (nghttp2's own GOAWAY) ends it after those bytes.
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#dead) return cb();
    this.socket.write(chunk, cb);
    this.outbound?.push(chunk);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    if (this.#dead) return cb();
    const s = this.socket;
    s.cork();
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) s.write(chunks[i]!.chunk);
    s.write(chunks[last]!.chunk, cb);
    s.uncork();
    if (this.outbound !== null) for (const c of chunks) if (!this.#dead) this.outbound.push(c.chunk);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (!this.#dead) this.socket.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const s = this.socket;
    if (!s.destroyed && !this.#dead) {
      // Let the last frames (a GOAWAY) reach the peer, within a bound.
      s.end();
      const t = setTimeout(() => s.destroy(), CLOSE_GRACE_MS);
      t.unref();
      s.once("close", () => clearTimeout(t));
    }
    cb(err);
  }
}
