// Splits the client's byte stream into requests, one event at a time, in the spirit of the
// proxylib parser contract: bytes in, "this many bytes are a head / body / the end" out, no
// sockets, no policy, no logging. The caller owns the buffers and decides what to forward.
//
// Usage: for each read, call execute(buf, pos) until it returns NEED_MORE (or PAUSED,
// CLOSED, ERROR), moving pos to `framer.pos` after each call:
//   HEAD   a complete head is in `head` (its bytes at [headStart, pos) when headInChunk)
//   BODY   buf[bodyStart, pos) is body, verbatim (chunk framing included)
//   END    the request is complete (no bytes consumed)
//   PAUSED after an upgrade request: the rest belongs to a tunnel or to the next request,
//          depending on the response; call resume() to parse it as HTTP again
//   CLOSED after a request that ends the connection (Connection: close, HTTP/1.0 without
//          keep-alive): RFC 9112 §9.6 forbids acting on anything sent after it
//   ERROR  `error` says why; nothing after this point may be forwarded

import { ChunkedBody } from "./chunked-body.js";
import { HeadScanner, type HeadLimits } from "./head-scanner.js";
import type { HttpParseError } from "./parse-error.js";
import { RequestHead, parseRequestHead } from "./request-head.js";

export const NEED_MORE = 0;
export const HEAD = 1;
export const BODY = 2;
export const END = 3;
export const PAUSED = 4;
export const CLOSED = 5;
export const ERROR = 6;
export type FramerEvent = typeof NEED_MORE | typeof HEAD | typeof BODY | typeof END | typeof PAUSED | typeof CLOSED | typeof ERROR;

const ST_HEAD = 0;
const ST_LENGTH = 1;
const ST_CHUNKED = 2;
const ST_END = 3;
const ST_PAUSED = 4;
const ST_CLOSED = 5;
const ST_ERROR = 6;

export interface RequestLimits extends HeadLimits {
  maxHeaders: number;
}

export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = Object.freeze({
  maxStartLineBytes: 8 * 1024,
  maxHeadBytes: 64 * 1024,
  maxHeaders: 100,
});

export class RequestFramer {
  /** Position reached by the last execute(). */
  pos = 0;
  /** Set by HEAD; the request the following BODY and END events belong to. */
  head: RequestHead | null = null;
  headInChunk = false;
  headStart = 0;
  bodyStart = 0;
  error: HttpParseError | null = null;
  private state = ST_HEAD;
  private remaining = 0;
  private readonly scanner: HeadScanner;
  private readonly chunked: ChunkedBody;
  private readonly limits: RequestLimits;

  constructor(limits: Partial<RequestLimits> = {}) {
    this.limits = { ...DEFAULT_REQUEST_LIMITS, ...limits };
    this.scanner = new HeadScanner(this.limits, true);
    this.chunked = new ChunkedBody(this.limits.maxHeadBytes);
  }

  /** True while part of a head has arrived but not its end (what a header timeout watches). */
  get headInProgress(): boolean {
    return this.state === ST_HEAD && this.scanner.inProgress;
  }

  /** True between a request's first byte and its END. */
  get midRequest(): boolean {
    return this.state === ST_LENGTH || this.state === ST_CHUNKED || this.state === ST_END || this.headInProgress;
  }

  execute(buf: Buffer, pos: number): FramerEvent {
    this.pos = pos;
    switch (this.state) {
      case ST_HEAD: {
        if (pos >= buf.length) return NEED_MORE;
        const end = this.scanner.scan(buf, pos);
        if (end === -1) {
          this.pos = buf.length;
          return NEED_MORE;
        }
        if (end === -2) return this.fail(this.scanner.error!);
        const s = this.scanner;
        const parsed = parseRequestHead(s.headBuf, s.headStart, s.headEnd, this.limits);
        if (!(parsed instanceof RequestHead)) return this.fail(parsed);
        this.head = parsed;
        this.headInChunk = s.headInChunk;
        this.headStart = s.headStart;
        this.pos = end;
        if (parsed.framing === "length") {
          this.state = ST_LENGTH;
          this.remaining = parsed.contentLength;
        } else if (parsed.framing === "chunked") {
          this.state = ST_CHUNKED;
          this.chunked.reset();
        } else {
          this.state = ST_END;
        }
        return HEAD;
      }
      case ST_LENGTH: {
        if (pos >= buf.length) return NEED_MORE;
        const n = Math.min(this.remaining, buf.length - pos);
        this.bodyStart = pos;
        this.pos = pos + n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = ST_END;
        return BODY;
      }
      case ST_CHUNKED: {
        if (pos >= buf.length) return NEED_MORE;
        const at = this.chunked.execute(buf, pos, buf.length);
        if (this.chunked.error !== null) return this.fail(this.chunked.error);
        this.bodyStart = pos;
        this.pos = at;
        if (this.chunked.done) this.state = ST_END;
        return BODY;
      }
      case ST_END: {
        const head = this.head!;
        this.state = head.upgrade ? ST_PAUSED : head.keepAlive ? ST_HEAD : ST_CLOSED;
        return END;
      }
      case ST_PAUSED:
        return PAUSED;
      case ST_CLOSED:
        return CLOSED;
      default:
        return ERROR;
    }
  }

  /** After an upgrade request that did not become a tunnel: parse what follows as requests. */
  resume(): void {
    if (this.state === ST_PAUSED) this.state = this.head?.keepAlive === false ? ST_CLOSED : ST_HEAD;
  }

  private fail(err: HttpParseError): FramerEvent {
    this.error = err;
    this.state = ST_ERROR;
    return ERROR;
  }
}
