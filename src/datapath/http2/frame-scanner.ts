// Reads HTTP/2 frame headers (RFC 9113 §4.1) out of a byte stream, incrementally and in
// bounded memory, without decoding anything else: 9 header bytes per frame, plus the first
// payload words of RST_STREAM (error code) and GOAWAY (last stream id, error code). Payloads
// are skipped by count. The session code uses it to see frames nghttp2 handles out of
// JavaScript's sight: what the client sends (flood limits, END_STREAM) and what nghttp2 sends
// on its own (stream refusals, GOAWAY), and END_STREAM from the upstream.

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const FLAG_END_STREAM = 0x1;
export const FLAG_ACK = 0x1;
export const FLAG_END_HEADERS = 0x4;

/** One frame as seen by the scanner; `word0`/`word1` are the captured payload words (else 0). */
export interface FrameSink {
  /** Returns false to stop scanning (the rest of the input is not looked at). */
  frame(type: number, flags: number, streamId: number, length: number, word0: number, word1: number): boolean;
}

export class FrameScanner {
  readonly #hdr = new Uint8Array(9);
  #hdrFill = 0;
  /** Preface bytes still to skip before the first frame. */
  #skip: number;
  #payloadLeft = 0;
  // Frame whose first payload words are being captured.
  #capType = -1;
  #capFlags = 0;
  #capStream = 0;
  #capLength = 0;
  #capWant = 0;
  #capFill = 0;
  readonly #cap = new Uint8Array(8);
  #stopped = false;

  constructor(
    private readonly sink: FrameSink,
    prefaceBytes = 0,
  ) {
    this.#skip = prefaceBytes;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Scans `buf`; false once the sink asked to stop (now or earlier). */
  push(buf: Uint8Array): boolean {
    if (this.#stopped) return false;
    let i = 0;
    const n = buf.length;
    while (i < n) {
      if (this.#skip > 0) {
        const k = Math.min(this.#skip, n - i);
        this.#skip -= k;
        i += k;
        continue;
      }
      if (this.#payloadLeft > 0) {
        const k = Math.min(this.#payloadLeft, n - i);
        this.#payloadLeft -= k;
        i += k;
        continue;
      }
      if (this.#capType >= 0) {
        while (i < n && this.#capFill < this.#capWant) this.#cap[this.#capFill++] = buf[i++]!;
        if (this.#capFill < this.#capWant) break;
        if (!this.#emitCaptured()) return false;
        continue;
      }
      if (this.#hdrFill === 0 && n - i >= 9) {
        // Whole header in this chunk: the common case, no copy.
        if (!this.#header(buf[i]! * 65536 + buf[i + 1]! * 256 + buf[i + 2]!, buf[i + 3]!, buf[i + 4]!, readU31(buf, i + 5))) return false;
        i += 9;
        continue;
      }
      const h = this.#hdr;
      while (i < n && this.#hdrFill < 9) h[this.#hdrFill++] = buf[i++]!;
      if (this.#hdrFill < 9) break;
      this.#hdrFill = 0;
      if (!this.#header(h[0]! * 65536 + h[1]! * 256 + h[2]!, h[3]!, h[4]!, readU31(h, 5))) return false;
    }
    return true;
  }

  #header(length: number, type: number, flags: number, streamId: number): boolean {
    const want = type === FRAME.RST_STREAM ? 4 : type === FRAME.GOAWAY ? 8 : 0;
    const capture = Math.min(want, length);
    if (capture === 0) {
      this.#payloadLeft = length;
      return this.#emit(type, flags, streamId, length, 0, 0);
    }
    this.#capType = type;
    this.#capFlags = flags;
    this.#capStream = streamId;
    this.#capLength = length;
    this.#capWant = capture;
    this.#capFill = 0;
    this.#cap.fill(0);
    return true;
  }

  #emitCaptured(): boolean {
    const c = this.#cap;
    const type = this.#capType;
    this.#capType = -1;
    this.#payloadLeft = this.#capLength - this.#capWant;
    const w0 = readU32(c, 0);
    const w1 = readU32(c, 4);
    return type === FRAME.GOAWAY
      ? this.#emit(type, this.#capFlags, this.#capStream, this.#capLength, w0 & 0x7fffffff, w1)
      : this.#emit(type, this.#capFlags, this.#capStream, this.#capLength, w0, 0);
  }

  #emit(type: number, flags: number, streamId: number, length: number, w0: number, w1: number): boolean {
    if (this.sink.frame(type, flags, streamId, length, w0, w1)) return true;
    this.#stopped = true;
    return false;
  }
}

function readU31(b: Uint8Array, i: number): number {
  return (b[i]! & 0x7f) * 0x1000000 + b[i + 1]! * 65536 + b[i + 2]! * 256 + b[i + 3]!;
}

function readU32(b: Uint8Array, i: number): number {
  return b[i]! * 0x1000000 + b[i + 1]! * 65536 + b[i + 2]! * 256 + b[i + 3]!;
}
