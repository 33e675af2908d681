// Limits on what a client may send, checked on the frame headers before nghttp2 sees the
// bytes, so an abusive connection is refused with its own error code and GOAWAY instead of
// costing the proxy (and the upstream) work first. nghttp2 1.61 has its own, higher limits
// for some of these (it kills the connection with a bare INTERNAL_ERROR); these trip first.
//
// - Rapid reset (CVE-2023-44487): streams the client opens and resets at once. As Envoy's
//   premature-reset rule: once the connection has opened `resetMinStreams` streams, a
//   connection on which at least half of them were reset by the client is closed.
// - CONTINUATION flood (CVE-2024-27983 class): a header block split over more than
//   `maxContinuations` CONTINUATION frames, or larger than `maxHeaderBlockBytes` compressed.
// - SETTINGS and PING floods: more than `maxControlPerSecond` of either (ACKs not counted)
//   within one second; each one costs the proxy an ACK it must queue.
// Every client frame also passes through here to record END_STREAM, because node:http2
// reports a stream the client reset with NO_ERROR as a normal end (nodejs/node #35209).

import type { ErrorCode } from "../../errors/codes.js";
import type { EndStreamLedger } from "./end-stream-ledger.js";
import { FLAG_ACK, FLAG_END_HEADERS, FLAG_END_STREAM, FRAME, type FrameSink } from "./frame-scanner.js";

export interface ClientFrameLimits {
  maxHeaderBlockBytes: number;
  maxContinuations: number;
  maxControlPerSecond: number;
  resetMinStreams: number;
}

export interface GuardViolation {
  code: ErrorCode;
  /** HTTP/2 error code for the GOAWAY (RFC 9113 §7). */
  h2Code: number;
  detail: string;
}

const ENHANCE_YOUR_CALM = 0xb;
const PROTOCOL_ERROR = 0x1;
const FRAME_SIZE_ERROR = 0x6;
/** SETTINGS_MAX_FRAME_SIZE the proxy advertises (the RFC's initial value, node's default). */
const MAX_FRAME_SIZE = 16_384;

export class ClientFrameGuard implements FrameSink {
  violation: GuardViolation | null = null;
  /** The highest stream id the client opened: a GOAWAY's last-stream-id. */
  lastStreamId = 0;
  #blockStream = 0;
  #blockFrames = 0;
  #blockBytes = 0;
  #streams = 0;
  #resets = 0;
  #windowStart = -1;
  #settings = 0;
  #pings = 0;

  constructor(
    private readonly limits: ClientFrameLimits,
    private readonly ledger: EndStreamLedger,
    private readonly nowMs: () => number,
  ) {}

  frame(type: number, flags: number, streamId: number, length: number): boolean {
    // RFC 9113's frame-level rules, checked here so that the client gets GOAWAY with the RFC's
    // code (node answers some of them with a bare INTERNAL_ERROR) and nghttp2 never sees them.
    const bad = frameError(type, flags, streamId, length);
    if (bad !== null) return this.#fail("L7P_ERR_H2_PROTOCOL", bad[0], bad[1]);
    if (this.#blockStream !== 0) {
      if (type !== FRAME.CONTINUATION || streamId !== this.#blockStream) {
        return this.#fail("L7P_ERR_H2_PROTOCOL", PROTOCOL_ERROR, "a frame other than CONTINUATION inside a header block");
      }
      this.#blockFrames++;
      this.#blockBytes += length;
      if (this.#blockFrames > this.limits.maxContinuations || this.#blockBytes > this.limits.maxHeaderBlockBytes) {
        return this.#fail("L7P_ERR_H2_CONTINUATION_FLOOD", ENHANCE_YOUR_CALM, `header block of ${this.#blockFrames} CONTINUATION frames, ${this.#blockBytes} bytes`);
      }
      if ((flags & FLAG_END_HEADERS) !== 0) this.#blockStream = 0;
      return true;
    }
    switch (type) {
      case FRAME.DATA:
        if ((flags & FLAG_END_STREAM) !== 0) this.ledger.ended(streamId);
        return true;
      case FRAME.HEADERS:
        if ((flags & FLAG_END_STREAM) !== 0) this.ledger.ended(streamId);
        if (!this.ledger.known(streamId)) {
          this.ledger.opened(streamId);
          this.#streams++;
          if (streamId > this.lastStreamId) this.lastStreamId = streamId;
        }
        if ((flags & FLAG_END_HEADERS) === 0) {
          this.#blockStream = streamId;
          this.#blockFrames = 0;
          this.#blockBytes = length;
        }
        return true;
      case FRAME.CONTINUATION:
        // Outside a header block: nghttp2 answers it with GOAWAY PROTOCOL_ERROR.
        return true;
      case FRAME.RST_STREAM:
        this.#resets++;
        if (this.#streams >= this.limits.resetMinStreams && this.#resets * 2 >= this.#streams) {
          return this.#fail("L7P_ERR_H2_RAPID_RESET", ENHANCE_YOUR_CALM, `${this.#resets} of ${this.#streams} streams reset by the client`);
        }
        return true;
      case FRAME.SETTINGS:
        if ((flags & FLAG_ACK) !== 0) return true;
        this.#tick();
        if (++this.#settings > this.limits.maxControlPerSecond) {
          return this.#fail("L7P_ERR_H2_SETTINGS_FLOOD", ENHANCE_YOUR_CALM, `more than ${this.limits.maxControlPerSecond} SETTINGS frames in a second`);
        }
        return true;
      case FRAME.PING:
        if ((flags & FLAG_ACK) !== 0) return true;
        this.#tick();
        if (++this.#pings > this.limits.maxControlPerSecond) {
          return this.#fail("L7P_ERR_H2_PING_FLOOD", ENHANCE_YOUR_CALM, `more than ${this.limits.maxControlPerSecond} PING frames in a second`);
        }
        return true;
      default:
        return true;
    }
  }

  /** One-second windows: a clock read only for SETTINGS and PING frames, which are rare. */
  #tick(): void {
    const now = this.nowMs();
    if (this.#windowStart < 0 || now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#settings = 0;
      this.#pings = 0;
    }
  }

  #fail(code: ErrorCode, h2Code: number, detail: string): boolean {
    this.violation = { code, h2Code, detail };
    return false;
  }
}

/** [GOAWAY code, why] for a frame that breaks RFC 9113 §4-§6 on its header alone, else null. */
function frameError(type: number, flags: number, streamId: number, length: number): [number, string] | null {
  if (length > MAX_FRAME_SIZE) return [FRAME_SIZE_ERROR, `frame of ${length} bytes`];
  switch (type) {
    case FRAME.DATA:
    case FRAME.HEADERS:
    case FRAME.PRIORITY:
    case FRAME.RST_STREAM:
    case FRAME.CONTINUATION:
      if (streamId === 0) return [PROTOCOL_ERROR, `frame type ${type} on stream 0`];
      if (type === FRAME.HEADERS && streamId % 2 === 0) return [PROTOCOL_ERROR, "HEADERS on a server-initiated stream id"];
      if (type === FRAME.PRIORITY && length !== 5) return [FRAME_SIZE_ERROR, "PRIORITY not 5 bytes"];
      if (type === FRAME.RST_STREAM && length !== 4) return [FRAME_SIZE_ERROR, "RST_STREAM not 4 bytes"];
      return null;
    case FRAME.SETTINGS:
      if (streamId !== 0) return [PROTOCOL_ERROR, "SETTINGS on a stream"];
      if ((flags & FLAG_ACK) !== 0 ? length !== 0 : length % 6 !== 0) return [FRAME_SIZE_ERROR, "SETTINGS of a bad length"];
      return null;
    case FRAME.PING:
      if (streamId !== 0) return [PROTOCOL_ERROR, "PING on a stream"];
      return length === 8 ? null : [FRAME_SIZE_ERROR, "PING not 8 bytes"];
    case FRAME.GOAWAY:
      return streamId === 0 ? (length < 8 ? [FRAME_SIZE_ERROR, "GOAWAY under 8 bytes"] : null) : [PROTOCOL_ERROR, "GOAWAY on a stream"];
    case FRAME.PUSH_PROMISE:
      return [PROTOCOL_ERROR, "PUSH_PROMISE from a client"];
    case FRAME.WINDOW_UPDATE:
      return length === 4 ? null : [FRAME_SIZE_ERROR, "WINDOW_UPDATE not 4 bytes"];
    default:
      return null;
  }
}
