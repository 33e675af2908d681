// The body states the request and the response framer share: a body of Content-Length bytes
// and a chunked body (validated as it streams past, see chunked-body.ts). Both framers extend
// this class, so a body step is a method on the framer itself (no second object to reach
// per read) and both number these states alike.
//
// Event codes are the ones both framers return (request-framer.ts adds PAUSED and CLOSED,
// response-framer.ts adds UPGRADE).

import { ChunkedBody } from "./chunked-body.js";
import type { HttpParseError } from "./parse-error.js";

export const NEED_MORE = 0;
export const HEAD = 1;
export const BODY = 2;
export const END = 3;
export const ERROR = 6;
export type BodyEvent = typeof NEED_MORE | typeof BODY | typeof ERROR;

/** States with the same number in both framers; each adds its own from ST_OWN on. */
export const ST_START = 0;
export const ST_LENGTH = 1;
export const ST_CHUNKED = 2;
export const ST_END = 3;
export const ST_ERROR = 4;
export const ST_OWN = 5;

export abstract class BodyFraming {
  /** Position reached by the last execute(). */
  pos = 0;
  bodyStart = 0;
  error: HttpParseError | null = null;
  protected state = ST_START;
  private remaining = 0;
  private readonly chunked: ChunkedBody;

  protected constructor(maxTrailerBytes: number) {
    this.chunked = new ChunkedBody(maxTrailerBytes);
  }

  /** After a head whose body is Content-Length bytes (ST_END at once when that is 0). */
  protected startLength(contentLength: number): void {
    this.state = ST_LENGTH;
    this.remaining = contentLength;
  }

  protected startChunked(): void {
    this.state = ST_CHUNKED;
    this.chunked.reset();
  }

  /** ST_LENGTH: buf[bodyStart, pos) is body. */
  protected lengthStep(buf: Buffer, pos: number): BodyEvent {
    if (pos >= buf.length) return NEED_MORE;
    const n = Math.min(this.remaining, buf.length - pos);
    this.bodyStart = pos;
    this.pos = pos + n;
    this.remaining -= n;
    if (this.remaining === 0) this.state = ST_END;
    return BODY;
  }

  /** ST_CHUNKED: buf[bodyStart, pos) is body, chunk framing included. */
  protected chunkedStep(buf: Buffer, pos: number): BodyEvent {
    if (pos >= buf.length) return NEED_MORE;
    const at = this.chunked.execute(buf, pos, buf.length);
    if (this.chunked.error !== null) return this.fail(this.bodyError(this.chunked.error));
    this.bodyStart = pos;
    this.pos = at;
    if (this.chunked.done) this.state = ST_END;
    return BODY;
  }

  /** How a bad chunked body is reported (the response framer makes it a 502). */
  protected bodyError(err: HttpParseError): HttpParseError {
    return err;
  }

  protected fail(err: HttpParseError): typeof ERROR {
    this.error = err;
    this.state = ST_ERROR;
    return ERROR;
  }
}
