// HTTP/2 frames written by hand, for hostile clients and for the scanner's tests: a frame
// header (RFC 9113 §4.1), the frames the tests need, and HPACK literals (RFC 7541 §6.2)
// without Huffman coding, so a test says exactly which bytes go on the wire.

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const END_STREAM = 0x1;
export const END_HEADERS = 0x4;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

export function settings(pairs: [number, number][] = [], ack = false): Buffer {
  const p = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([k, v], i) => {
    p.writeUInt16BE(k, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(T.SETTINGS, ack ? 1 : 0, 0, p);
}

export const ping = (ack = false): Buffer => frame(T.PING, ack ? 1 : 0, 0, Buffer.alloc(8));

export function rstStream(streamId: number, code = 0x8): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(T.RST_STREAM, 0, streamId, p);
}

export function goaway(lastStreamId: number, code: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStreamId, 0);
  p.writeUInt32BE(code, 4);
  return frame(T.GOAWAY, 0, 0, p);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment);
  return frame(T.WINDOW_UPDATE, 0, streamId, p);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, "latin1");
  if (b.length < 127) return Buffer.concat([Buffer.from([b.length]), b]);
  const out = [0x7f];
  let n = b.length - 127;
  while (n >= 128) {
    out.push((n & 0x7f) | 0x80);
    n >>= 7;
  }
  out.push(n);
  return Buffer.concat([Buffer.from(out), b]);
}

/** Literal field without indexing, new name (RFC 7541 §6.2.2). */
export function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)]);
}

/** Literal field with incremental indexing, new name (§6.2.1): enters the dynamic table at index 62. */
export function literalIndexed(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)]);
}

/** Indexed field (§6.1), for indexes below 127. */
export function indexed(index: number): Buffer {
  return Buffer.from([0x80 | index]);
}

export function headerBlock(fields: [string, string][]): Buffer {
  return Buffer.concat(fields.map(([n, v]) => literal(n, v)));
}

export function requestBlock(path: string, extra: [string, string][] = [], method = "GET"): Buffer {
  return headerBlock([[":method", method], [":scheme", "http"], [":path", path], [":authority", "test.local"], ...extra]);
}

export function headers(streamId: number, block: Buffer, flags = END_STREAM | END_HEADERS): Buffer {
  return frame(T.HEADERS, flags, streamId, block);
}

export function continuation(streamId: number, block: Buffer, flags = 0): Buffer {
  return frame(T.CONTINUATION, flags, streamId, block);
}

export function data(streamId: number, payload: Buffer, flags = 0): Buffer {
  return frame(T.DATA, flags, streamId, payload);
}

/** Frame headers in a byte stream (no preface): type, flags, stream id, and the first payload word. */
export function parseFrames(buf: Buffer): { type: number; flags: number; streamId: number; length: number; word0: number; word1: number }[] {
  const out = [];
  let off = 0;
  while (off + 9 <= buf.length) {
    const length = buf.readUIntBE(off, 3);
    if (off + 9 + length > buf.length) break;
    const p = off + 9;
    out.push({
      type: buf[off + 3]!,
      flags: buf[off + 4]!,
      streamId: buf.readUInt32BE(off + 5) & 0x7fffffff,
      length,
      word0: length >= 4 ? buf.readUInt32BE(p) : 0,
      word1: length >= 8 ? buf.readUInt32BE(p + 4) : 0,
    });
    off += 9 + length;
  }
  return out;
}
