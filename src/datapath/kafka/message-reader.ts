// Decodes one message body by its resolved layout into a plain value tree, reading every
// byte (tagged fields are skipped by their declared size), and collects the topics the
// message names on the way. Bytes and records stay views into the frame (no copy).

import type { FieldLayout, StructLayout } from "./spec/layout.js";
import { KafkaWireError, type WireReader } from "./wire-reader.js";

export type KafkaValue = number | bigint | boolean | string | Buffer | null | KafkaStruct | KafkaValue[];
export interface KafkaStruct {
  [name: string]: KafkaValue;
}

/** Topics a message names: by name, and by ID (32 hex digits) where no name is given. */
export interface TopicRefs {
  names: string[];
  ids: string[];
}

const ZERO_UUID = "0".repeat(32);

// Fetch's forgotten topics are dropped from a fetch session, not read: they do not count as
// topics the request touches (the broker does not authorize them either).
const NOT_TOUCHED = new Set(["ForgottenTopicsData"]);

export function readStruct(r: WireReader, layout: StructLayout, refs: TopicRefs | null): KafkaStruct {
  const out: KafkaStruct = {};
  const flexible = layout.flexible;
  for (const f of layout.fields) out[f.name] = readField(r, f, flexible, refs !== null && NOT_TOUCHED.has(f.name) ? null : refs);
  if (layout.flexible) skipTaggedFields(r);
  if (refs !== null && layout.namesTopic) collectTopics(layout, out, refs);
  return out;
}

function collectTopics(layout: StructLayout, s: KafkaStruct, refs: TopicRefs): void {
  let named = false;
  for (const f of layout.fields) {
    if (!f.topicName) continue;
    const v = s[f.name];
    if (typeof v === "string") {
      refs.names.push(v);
      named = true;
    } else if (Array.isArray(v)) {
      for (const x of v) if (typeof x === "string") refs.names.push(x);
    }
  }
  const id = s.TopicId;
  // An ID alone names the topic (Fetch v13+, Metadata by ID); with a name beside it both
  // must be covered, so a request cannot pair an allowed name with another topic's ID.
  if (typeof id === "string" && (!named || id !== ZERO_UUID)) refs.ids.push(id);
}

function readField(r: WireReader, f: FieldLayout, compact: boolean, refs: TopicRefs | null): KafkaValue {
  if (f.array) {
    const n = r.length(compact, true, f.nullable, "array");
    if (n === null) return null;
    const min = f.struct !== null ? f.struct.minBytes : primBytes(f, compact);
    // Each element takes at least one byte, so a count can never promise more than the frame holds.
    if (n * Math.max(min, 1) > r.remaining) throw new KafkaWireError(`array of ${n} elements longer than the frame`);
    const arr: KafkaValue[] = new Array<KafkaValue>(n);
    for (let i = 0; i < n; i++) arr[i] = f.struct !== null ? readStruct(r, f.struct, refs) : readPrim(r, f, compact);
    return arr;
  }
  if (f.struct !== null) {
    if (f.nullable && r.int8() < 0) return null;
    return readStruct(r, f.struct, refs);
  }
  return readPrim(r, f, compact);
}

function primBytes(f: FieldLayout, compact: boolean): number {
  switch (f.type) {
    case "int64":
    case "float64":
      return 8;
    case "int32":
    case "uint32":
      return 4;
    case "int16":
    case "uint16":
      return 2;
    case "uuid":
      return 16;
    case "string":
      return compact ? 1 : 2;
    case "bytes":
    case "records":
      return compact ? 1 : 4;
    default:
      return 1;
  }
}

function readPrim(r: WireReader, f: FieldLayout, compact: boolean): KafkaValue {
  switch (f.type) {
    case "bool":
      return r.int8() !== 0;
    case "int8":
      return r.int8();
    case "int16":
      return r.int16();
    case "uint16":
      return r.uint16();
    case "int32":
      return r.int32();
    case "uint32":
      return r.uint32();
    case "int64":
      return r.int64();
    case "float64":
      return r.float64();
    case "uuid":
      return r.uuid();
    case "string":
      return r.string(compact, f.nullable);
    case "bytes":
    case "records":
      return r.bytes(compact, f.nullable);
    case "struct":
      throw new KafkaWireError("struct read as a primitive");
  }
}

/** A tagged-field section: count, then (tag, size, data) each; tags in increasing order. */
export function skipTaggedFields(r: WireReader): void {
  const n = r.uvarint();
  if (n * 2 > r.remaining) throw new KafkaWireError("tagged field count longer than the frame");
  let last = -1;
  for (let i = 0; i < n; i++) {
    const tag = r.uvarint();
    if (tag <= last) throw new KafkaWireError("tagged fields out of order or repeated");
    last = tag;
    r.skip(r.uvarint(), "tagged field");
  }
}
