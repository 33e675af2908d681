// Splits the broker's byte stream into response frames without holding them: each chunk
// comes back as pieces tagged with where frames start (with their correlation id) and end,
// so a large Fetch response streams to the client as it arrives. Only the first 8 bytes of a
// frame (size and correlation id) are ever held back.

export interface ResponsePiece {
  /** Bytes to pass on (a view into the chunk, or the held header bytes). */
  bytes: Buffer;
  /** Set on the piece that starts a frame. */
  start: { size: number; correlationId: number } | null;
  /** This piece ends its frame. */
  end: boolean;
}

export class ResponseFramer {
  private head: Buffer | null = null;
  /** Bytes of the current frame (after its 8-byte head) still to come; -1 between frames. */
  private left = -1;

  constructor(private readonly maxFrameBytes: number) {}

  /** Between frames (nothing held, no frame under way). */
  get idle(): boolean {
    return this.left < 0 && this.head === null;
  }

  /** Throws on a size outside [4, maxFrameBytes]: the stream cannot be framed any further. */
  push(chunk: Buffer): ResponsePiece[] {
    const out: ResponsePiece[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.left < 0) {
        const have = this.head === null ? 0 : this.head.length;
        const take = Math.min(8 - have, chunk.length - pos);
        const part = chunk.subarray(pos, pos + take);
        this.head = this.head === null ? Buffer.from(part) : Buffer.concat([this.head, part]);
        pos += take;
        if (this.head.length < 8) break;
        const size = this.head.readInt32BE(0);
        if (size < 4 || size > this.maxFrameBytes) throw new Error(`response frame of ${size} bytes`);
        const head = this.head;
        this.head = null;
        this.left = size - 4;
        out.push({ bytes: head, start: { size, correlationId: head.readInt32BE(4) }, end: this.left === 0 });
        if (this.left === 0) this.left = -1;
        continue;
      }
      const take = Math.min(this.left, chunk.length - pos);
      this.left -= take;
      const end = this.left === 0;
      out.push({ bytes: chunk.subarray(pos, pos + take), start: null, end });
      pos += take;
      if (end) this.left = -1;
    }
    return out;
  }
}
