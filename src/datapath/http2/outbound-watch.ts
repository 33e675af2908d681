// What nghttp2 and node:http2 send a client on their own, read from the outbound frames:
// they refuse streams and close connections without telling JavaScript. The proxy's own
// code never resets a client stream with these codes, so each one names what happened:
//   RST_STREAM REFUSED_STREAM     past SETTINGS_MAX_CONCURRENT_STREAMS
//   RST_STREAM ENHANCE_YOUR_CALM  header list past maxHeaderListSize / maxHeaderListPairs
//                                 (an HPACK bomb decodes past it), the "431" of HTTP/2
//   RST_STREAM PROTOCOL_ERROR     malformed request headers (upper-case or connection-
//                                 specific names, bad pseudo-headers, content-length mismatch)
//   GOAWAY with an error code     an invalid frame or sequence; nghttp2 then stops reading
//                                 but leaves the connection open, so the session closes it
// Stream refusals the proxy asked for itself (REFUSED_STREAM when the upstream refused one)
// are announced with ownRefusal() and not counted.
// It also reports each stream whose response has ended (a frame with END_STREAM went out):
// only once those bytes are written may the session reset a request still being uploaded,
// because nghttp2 sends RST_STREAM ahead of queued DATA.

import type { ErrorCode } from "../../errors/codes.js";
import { FLAG_END_STREAM, FRAME, type FrameSink } from "./frame-scanner.js";

export const H2_NO_ERROR = 0x0;
export const H2_PROTOCOL_ERROR = 0x1;
export const H2_INTERNAL_ERROR = 0x2;
export const H2_REFUSED_STREAM = 0x7;
export const H2_CANCEL = 0x8;
export const H2_ENHANCE_YOUR_CALM = 0xb;

export interface OutboundEvents {
  streamRefused(code: ErrorCode, streamId: number): void;
  /** nghttp2 sent GOAWAY with this error code (not the proxy's own GOAWAY). */
  connectionRefused(h2Code: number): void;
  /** A frame carrying END_STREAM was written on this stream: the response is complete. */
  responseEnded(streamId: number): void;
}

export class OutboundWatch implements FrameSink {
  /** Set before the proxy sends its own GOAWAY, so it is not reported as nghttp2's. */
  ownGoaway = false;
  readonly #own = new Set<number>();

  constructor(private readonly events: OutboundEvents) {}

  ownRefusal(streamId: number): void {
    this.#own.add(streamId);
  }

  frame(type: number, flags: number, streamId: number, _length: number, word0: number, word1: number): boolean {
    if ((type === FRAME.DATA || type === FRAME.HEADERS) && (flags & FLAG_END_STREAM) !== 0) {
      this.events.responseEnded(streamId);
    } else if (type === FRAME.RST_STREAM) {
      if (word0 === H2_REFUSED_STREAM) {
        if (this.#own.delete(streamId)) return true;
        this.events.streamRefused("L7P_ERR_H2_TOO_MANY_STREAMS", streamId);
      } else if (word0 === H2_ENHANCE_YOUR_CALM) {
        this.events.streamRefused("L7P_ERR_H2_HEADERS_TOO_LARGE", streamId);
      } else if (word0 === H2_PROTOCOL_ERROR) {
        this.events.streamRefused("L7P_ERR_H2_STREAM", streamId);
      }
    } else if (type === FRAME.GOAWAY && word1 !== H2_NO_ERROR && !this.ownGoaway) {
      this.events.connectionRefused(word1);
    }
    return true;
  }
}
