// Whole frames (size prefix, header, body) encoded from value trees: responses the proxy
// sends in place of the broker, and requests (for tests, tools and benchmarks).

import type { KafkaStruct } from "./message-reader.js";
import { WireWriter, writeStruct } from "./message-writer.js";
import { requestHeaderVersion, requestLayout, responseHeaderVersion, responseLayout } from "./spec/layout.js";

function framed(w: WireWriter): Buffer {
  const out = w.finish();
  out.writeInt32BE(out.length - 4, 0);
  return out;
}

/** A response frame at the request's version, with the response header that version uses. */
export function encodeResponse(apiKey: number, version: number, correlationId: number, body: KafkaStruct): Buffer {
  const layout = responseLayout(apiKey, version);
  if (layout === null) throw new Error(`no response layout for API ${apiKey} v${version}`);
  const w = new WireWriter();
  w.int32(0);
  w.int32(correlationId);
  if (responseHeaderVersion(apiKey, version) === 1) w.uvarint(0);
  writeStruct(w, layout.body, body);
  return framed(w);
}

export function encodeRequest(apiKey: number, version: number, correlationId: number, clientId: string | null, body: KafkaStruct): Buffer {
  const layout = requestLayout(apiKey, version);
  if (layout === null) throw new Error(`no request layout for API ${apiKey} v${version}`);
  const w = new WireWriter();
  w.int32(0);
  w.int16(apiKey);
  w.int16(version);
  w.int32(correlationId);
  const hv = requestHeaderVersion(apiKey, version);
  if (hv >= 1) w.string(clientId, false);
  if (hv === 2) w.uvarint(0);
  writeStruct(w, layout.body, body);
  return framed(w);
}
