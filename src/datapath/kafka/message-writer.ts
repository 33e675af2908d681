// Encodes a value tree by a resolved layout: what the proxy uses to answer in Kafka's own
// words. A field missing from the tree gets the spec's default (or the type's zero), so a
// response names only what it means (error codes, echoed topics) and is right at any version.
// Tagged fields are never written (every one is optional by definition).

import type { KafkaStruct, KafkaValue } from "./message-reader.js";
import type { FieldLayout, StructLayout } from "./spec/layout.js";

export class WireWriter {
  private buf = Buffer.allocUnsafe(256);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  int8(v: number): void {
    this.room(1);
    this.pos = this.buf.writeInt8(v, this.pos);
  }
  int16(v: number): void {
    this.room(2);
    this.pos = this.buf.writeInt16BE(v, this.pos);
  }
  uint16(v: number): void {
    this.room(2);
    this.pos = this.buf.writeUInt16BE(v, this.pos);
  }
  int32(v: number): void {
    this.room(4);
    this.pos = this.buf.writeInt32BE(v, this.pos);
  }
  uint32(v: number): void {
    this.room(4);
    this.pos = this.buf.writeUInt32BE(v, this.pos);
  }
  int64(v: bigint): void {
    this.room(8);
    this.pos = this.buf.writeBigInt64BE(v, this.pos);
  }
  float64(v: number): void {
    this.room(8);
    this.pos = this.buf.writeDoubleBE(v, this.pos);
  }
  uvarint(v: number): void {
    this.room(5);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  raw(b: Buffer): void {
    this.room(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  /** A length prefix: compact (N+1, 0 = null) or classic (int16 for strings, int32 otherwise). */
  length(n: number | null, compact: boolean, wide: boolean): void {
    const v = n === null ? -1 : n;
    if (compact) this.uvarint(v + 1);
    else if (wide) this.int32(v);
    else this.int16(v);
  }
  string(s: string | null, compact: boolean): void {
    if (s === null) return this.length(null, compact, false);
    const b = Buffer.from(s, "utf8");
    this.length(b.length, compact, false);
    this.raw(b);
  }
  bytes(b: Buffer | null, compact: boolean): void {
    this.length(b === null ? null : b.length, compact, true);
    if (b !== null) this.raw(b);
  }
  /** What was written, copied out. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

function defaultOf(f: FieldLayout): KafkaValue {
  const d = f.dflt;
  if (f.array) return d === "null" && f.nullable ? null : [];
  switch (f.type) {
    case "bool":
      return d === "true";
    case "int64":
      return d === null ? 0n : BigInt(d);
    case "int8":
    case "int16":
    case "uint16":
    case "int32":
    case "uint32":
    case "float64":
      return d === null ? 0 : Number(d);
    case "string":
      return d === "null" && f.nullable ? null : (d ?? "");
    case "uuid":
      return "0".repeat(32);
    case "bytes":
      return f.nullable && d === "null" ? null : Buffer.alloc(0);
    case "records":
      return f.nullable ? null : Buffer.alloc(0);
    case "struct":
      return {};
  }
}

export function writeStruct(w: WireWriter, layout: StructLayout, s: KafkaStruct): void {
  for (const f of layout.fields) {
    const v = s[f.name];
    writeField(w, f, layout.flexible, v === undefined ? defaultOf(f) : v);
  }
  if (layout.flexible) w.uvarint(0);
}

function writeField(w: WireWriter, f: FieldLayout, compact: boolean, v: KafkaValue): void {
  if (f.array) {
    const arr = Array.isArray(v) ? v : null;
    w.length(arr === null ? null : arr.length, compact, true);
    if (arr === null) return;
    for (const x of arr) {
      if (f.struct !== null) writeStruct(w, f.struct, x as KafkaStruct);
      else writePrim(w, f, compact, x);
    }
    return;
  }
  if (f.struct !== null) {
    if (f.nullable) {
      if (v === null) return w.int8(-1);
      w.int8(1);
    }
    writeStruct(w, f.struct, (v ?? {}) as KafkaStruct);
    return;
  }
  writePrim(w, f, compact, v);
}

function writePrim(w: WireWriter, f: FieldLayout, compact: boolean, v: KafkaValue): void {
  switch (f.type) {
    case "bool":
      return w.int8(v === true ? 1 : 0);
    case "int8":
      return w.int8(v as number);
    case "int16":
      return w.int16(v as number);
    case "uint16":
      return w.uint16(v as number);
    case "int32":
      return w.int32(v as number);
    case "uint32":
      return w.uint32(v as number);
    case "int64":
      return w.int64(typeof v === "bigint" ? v : BigInt(v as number));
    case "float64":
      return w.float64(v as number);
    case "uuid":
      return w.raw(Buffer.from(typeof v === "string" && /^[0-9a-f]{32}$/.test(v) ? v : "0".repeat(32), "hex"));
    case "string":
      return w.string(v === null ? (f.nullable ? null : "") : String(v), compact);
    case "bytes":
    case "records":
      return w.bytes(v === null ? (f.nullable ? null : Buffer.alloc(0)) : (v as Buffer), compact);
    case "struct":
      return;
  }
}
