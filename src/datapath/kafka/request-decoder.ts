// The Kafka request decoder: bytes in, one request (or "need more", or a refusal) out.
// A request is accepted only when its header and body decode by the spec layout of its
// (API key, version) and end exactly at the frame's end: a frame is never forwarded with
// bytes the decoder did not account for. Pure and bounded: it reads at most the frame,
// allocates at most in proportion to it, and throws nothing (refusals are values).

import { readStruct, skipTaggedFields, type KafkaStruct, type TopicRefs } from "./message-reader.js";
import { requestHeaderVersion, requestLayout, requestSpec } from "./spec/layout.js";
import { KafkaWireError, WireReader } from "./wire-reader.js";

export interface KafkaRequest {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  readonly headerVersion: 0 | 1 | 2;
  readonly flexible: boolean;
  readonly body: KafkaStruct;
  /** Topic names the request touches (duplicates possible). */
  readonly topicNames: readonly string[];
  /** Topic IDs (32 hex digits) the request names without a name: resolve before deciding. */
  readonly topicIds: readonly string[];
  /** The whole frame, size prefix included: a view into the input, what is forwarded. */
  readonly frame: Buffer;
}

export type KafkaRefusal =
  /** The size prefix is negative or larger than the limit. */
  | "frame-too-large"
  /** An API key or version the specs do not define. */
  | "unsupported-version"
  /** The header or body does not decode, or does not end at the frame's end. */
  | "malformed";

export type DecodeResult =
  | { kind: "more"; need: number }
  | { kind: "request"; request: KafkaRequest; end: number }
  | {
      kind: "refused";
      reason: KafkaRefusal;
      detail: string;
      apiKey: number | null;
      apiVersion: number | null;
      correlationId: number | null;
      /** The client id, for an unsupported version whose header could be read; else null. */
      clientId: string | null;
      /** Where the refused frame ends, when all of it is there (else null). */
      end: number | null;
    };

/** Header fields, read as soon as the frame holds them (for reporting a refusal). */
function peek(buf: Buffer, at: number, end: number): [number | null, number | null, number | null] {
  return end - at >= 8 ? [buf.readInt16BE(at), buf.readInt16BE(at + 2), buf.readInt32BE(at + 4)] : [null, null, null];
}

/**
 * Decodes the request frame starting at `start` in `buf` (bytes up to `buf.length` are
 * available). `maxFrameBytes` bounds the size prefix.
 */
export function decodeRequest(buf: Buffer, start: number, maxFrameBytes: number): DecodeResult {
  const avail = buf.length - start;
  if (avail < 4) return { kind: "more", need: 4 - avail };
  const size = buf.readInt32BE(start);
  if (size < 0 || size > maxFrameBytes) {
    return { kind: "refused", reason: "frame-too-large", detail: `frame of ${size} bytes (limit ${maxFrameBytes})`, apiKey: null, apiVersion: null, correlationId: null, clientId: null, end: null };
  }
  if (avail < 4 + size) return { kind: "more", need: 4 + size - avail };
  const bodyStart = start + 4;
  const end = bodyStart + size;
  const [apiKey, apiVersion, correlationId] = peek(buf, bodyStart, end);
  const refuse = (reason: KafkaRefusal, detail: string, clientId: string | null = null): DecodeResult => ({ kind: "refused", reason, detail, apiKey, apiVersion, correlationId, clientId, end });
  if (apiKey === null || apiVersion === null || correlationId === null) return refuse("malformed", "frame shorter than a request header");
  const layout = requestLayout(apiKey, apiVersion);
  if (layout === null) {
    const spec = requestSpec(apiKey);
    const detail = spec === undefined ? `unknown API key ${apiKey}` : `${spec.name} v${apiVersion} is not in the spec (v${spec.valid[0]}-${spec.valid[1]})`;
    // ApiVersions newer than the specs still has header v2 (KIP-511): its client id is read
    // so the version can be negotiated down; the body is never read nor forwarded.
    if (apiKey === 18 && apiVersion > 0) {
      const h = new WireReader(buf, bodyStart + 8, end);
      try {
        return refuse("unsupported-version", detail, h.string(false, true));
      } catch {
        return refuse("unsupported-version", detail);
      }
    }
    return refuse("unsupported-version", detail);
  }
  const r = new WireReader(buf, bodyStart + 8, end);
  try {
    const headerVersion = requestHeaderVersion(apiKey, apiVersion);
    const clientId = headerVersion >= 1 ? r.string(false, true) : null;
    if (headerVersion === 2) skipTaggedFields(r);
    const refs: TopicRefs = { names: [], ids: [] };
    const body = readStruct(r, layout.body, refs);
    if (r.pos !== end) return refuse("malformed", `${end - r.pos} bytes after the end of ${layout.name} v${apiVersion}`);
    return {
      kind: "request",
      end,
      request: {
        apiKey,
        apiVersion,
        correlationId,
        clientId,
        headerVersion,
        flexible: layout.flexible,
        body,
        topicNames: refs.names,
        topicIds: refs.ids,
        frame: buf.subarray(start, end),
      },
    };
  } catch (err) {
    if (err instanceof KafkaWireError) return refuse("malformed", `${layout.name} v${apiVersion}: ${err.reason}`);
    throw err;
  }
}
