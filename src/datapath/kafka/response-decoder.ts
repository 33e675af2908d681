// Decodes a whole response frame by the spec layout of the request it answers (the
// response does not name its API: the connection knows which request is at the front).
// Used for what the proxy learns from responses (topic IDs from Metadata) and by tests.

import { readStruct, skipTaggedFields, type KafkaStruct } from "./message-reader.js";
import { responseHeaderVersion, responseLayout } from "./spec/layout.js";
import { KafkaWireError, WireReader } from "./wire-reader.js";

export type ResponseResult = { ok: true; correlationId: number; body: KafkaStruct } | { ok: false; reason: string };

/** `frame` is one whole frame, size prefix included. */
export function decodeResponse(apiKey: number, version: number, frame: Buffer): ResponseResult {
  const layout = responseLayout(apiKey, version);
  if (layout === null) return { ok: false, reason: `no response layout for API ${apiKey} v${version}` };
  if (frame.length < 8 || frame.readInt32BE(0) !== frame.length - 4) return { ok: false, reason: "frame size does not match" };
  const r = new WireReader(frame, 8, frame.length);
  try {
    if (responseHeaderVersion(apiKey, version) === 1) skipTaggedFields(r);
    const body = readStruct(r, layout.body, null);
    if (r.pos !== frame.length) return { ok: false, reason: `${frame.length - r.pos} bytes after the response` };
    return { ok: true, correlationId: frame.readInt32BE(4), body };
  } catch (err) {
    if (err instanceof KafkaWireError) return { ok: false, reason: err.reason };
    throw err;
  }
}
