// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): every message is preceded by its length as two
// bytes. Splits a byte stream into whole messages, holding at most one partial message.
// A zero length is refused: no DNS message is empty, and accepting it would let a client
// keep the connection busy without ever sending one.

export class DnsTcpFramer {
  #pending: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the whole messages they complete, or "malformed" for a zero length. */
  push(chunk: Buffer): Buffer[] | "malformed" {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const out: Buffer[] = [];
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (len === 0) return "malformed";
      if (buf.length < 2 + len) break;
      out.push(Buffer.from(buf.subarray(2, 2 + len)));
      buf = buf.subarray(2 + len);
    }
    this.#pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return out;
  }

  /** Bytes of a message not yet complete. */
  get buffered(): number {
    return this.#pending.length;
  }
}

export function frameTcp(msg: Uint8Array): Buffer {
  const out = Buffer.alloc(2 + msg.length);
  out.writeUInt16BE(msg.length, 0);
  out.set(msg, 2);
  return out;
}
