// Bounds-checked reads of Kafka's primitive types from one frame. Every read checks the
// frame's end first, so a lying length can never make the decoder read past the frame or
// allocate more than the frame holds; a failure throws KafkaWireError, which the decoders
// turn into a refusal (nothing else may throw out of them).

export class KafkaWireError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "KafkaWireError";
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export class WireReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) throw new KafkaWireError(`truncated ${what}`);
  }

  int8(): number {
    this.need(1, "int8");
    return this.buf.readInt8(this.pos++);
  }
  int16(): number {
    this.need(2, "int16");
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  uint16(): number {
    this.need(2, "uint16");
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4, "int32");
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  uint32(): number {
    this.need(4, "uint32");
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  int64(): bigint {
    this.need(8, "int64");
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  float64(): number {
    this.need(8, "float64");
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A UUID as 32 lower-case hex digits (zero = "absent" in Kafka). */
  uuid(): string {
    this.need(16, "uuid");
    const v = this.buf.toString("hex", this.pos, this.pos + 16);
    this.pos += 16;
    return v;
  }

  /** Kafka's UNSIGNED_VARINT: at most 5 bytes, at most 2^32-1. */
  uvarint(): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      this.need(1, "varint");
      const b = this.buf[this.pos++]!;
      if (i === 4 && b > 0x0f) throw new KafkaWireError("varint overflows 32 bits");
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return value;
    }
    throw new KafkaWireError("varint longer than 5 bytes");
  }

  /** A string/bytes/array length: -1 (classic) or 0 (compact) is null. */
  length(compact: boolean, wide: boolean, nullable: boolean, what: string): number | null {
    const n = compact ? this.uvarint() - 1 : wide ? this.int32() : this.int16();
    if (n === -1) {
      if (!nullable) throw new KafkaWireError(`null ${what} where the spec allows none`);
      return null;
    }
    if (n < 0) throw new KafkaWireError(`negative ${what} length`);
    return n;
  }

  string(compact: boolean, nullable: boolean): string | null {
    const n = this.length(compact, false, nullable, "string");
    if (n === null) return null;
    this.need(n, "string");
    const start = this.pos;
    this.pos += n;
    try {
      return utf8.decode(this.buf.subarray(start, start + n));
    } catch {
      throw new KafkaWireError("string is not valid UTF-8");
    }
  }

  /** A view into the frame (no copy); null when null on the wire. */
  bytes(compact: boolean, nullable: boolean): Buffer | null {
    const n = this.length(compact, true, nullable, "bytes");
    if (n === null) return null;
    this.need(n, "bytes");
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }
}
