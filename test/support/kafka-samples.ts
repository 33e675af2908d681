// Sample Kafka messages built from the spec layouts: every field of the version with a
// random value of its type (topic-name fields get "topic-<n>"), so tests can encode a frame
// of any (API, version), decode it back, and know which topics it names.

import type { KafkaStruct, KafkaValue } from "../../src/datapath/kafka/message-reader.js";
import type { FieldLayout, StructLayout } from "../../src/datapath/kafka/spec/layout.js";
import { REQUEST_SPECS } from "../../src/datapath/kafka/spec/messages.generated.js";

export function allRequestVersions(): { apiKey: number; version: number; name: string }[] {
  const out: { apiKey: number; version: number; name: string }[] = [];
  for (const spec of Object.values(REQUEST_SPECS)) {
    for (let v = spec.valid[0]!; v <= spec.valid[1]!; v++) out.push({ apiKey: spec.apiKey, version: v, name: spec.name });
  }
  return out;
}

export interface Sample {
  body: KafkaStruct;
  /** Topic names in the order the decoder meets them. */
  topics: string[];
}

export function sampleStruct(layout: StructLayout, rand: () => number, topics: string[], inForgotten = false): KafkaStruct {
  const s: KafkaStruct = {};
  for (const f of layout.fields) s[f.name] = sampleField(f, rand, topics, inForgotten || f.name === "ForgottenTopicsData");
  return s;
}

function sampleField(f: FieldLayout, rand: () => number, topics: string[], forgotten: boolean): KafkaValue {
  if (f.nullable && rand() < 0.15) return null;
  if (f.array) {
    const n = Math.floor(rand() * 3);
    const arr: KafkaValue[] = [];
    for (let i = 0; i < n; i++) arr.push(f.struct !== null ? sampleStruct(f.struct, rand, topics, forgotten) : samplePrim(f, rand, topics, forgotten));
    return arr;
  }
  if (f.struct !== null) return sampleStruct(f.struct, rand, topics, forgotten);
  return samplePrim(f, rand, topics, forgotten);
}

function samplePrim(f: FieldLayout, rand: () => number, topics: string[], forgotten: boolean): KafkaValue {
  const int = (bits: number): number => Math.floor(rand() * 2 ** bits) - 2 ** (bits - 1);
  switch (f.type) {
    case "bool":
      return rand() < 0.5;
    case "int8":
      return int(8);
    case "int16":
      return int(16);
    case "uint16":
      return Math.floor(rand() * 65536);
    case "int32":
      return int(32);
    case "uint32":
      return Math.floor(rand() * 2 ** 32);
    case "int64":
      return BigInt(int(32)) * 65536n;
    case "float64":
      return rand();
    case "uuid":
      return Buffer.from(Array.from({ length: 16 }, () => Math.floor(rand() * 256))).toString("hex");
    case "string": {
      if (f.topicName) {
        const t = `topic-${Math.floor(rand() * 1000)}`;
        if (!forgotten) topics.push(t);
        return t;
      }
      return `s${Math.floor(rand() * 1e6)}`;
    }
    case "bytes":
    case "records":
      return Buffer.from(Array.from({ length: Math.floor(rand() * 8) }, () => Math.floor(rand() * 256)));
    case "struct":
      return {};
  }
}
