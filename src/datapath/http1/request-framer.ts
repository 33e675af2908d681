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

import { defaultRunConfig } from "../../config/run-config.js";
import { BODY, BodyFraming, END, ERROR, HEAD, NEED_MORE, ST_CHUNKED, ST_END, ST_ERROR, ST_LENGTH, ST_OWN, ST_START } from "./body-framing.js";
import { HeadScanner, type HeadLimits } from "./head-scanner.js";
import { RequestHead, parseRequestHead } from "./request-head.js";

export { BODY, END, ERROR, HEAD, NEED_MORE };
export const PAUSED = 4;
export const CLOSED = 5;
export type FramerEvent = typeof NEED_MORE | typeof HEAD | typeof BODY | typeof END | typeof PAUSED | typeof CLOSED | typeof ERROR;

const ST_HEAD = ST_START;
const ST_PAUSED = ST_OWN;
const ST_CLOSED = ST_OWN + 1;

export interface RequestLimits extends HeadLimits {
  maxHeaders: number;
}

const d = defaultRunConfig();

/** The run configuration's limits (src/config/run-config.ts owns every default). */
export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = Object.freeze({
  maxStartLineBytes: d.maxRequestLineBytes,
  maxHeadBytes: d.maxHeaderBytes,
  maxHeaders: d.maxHeaders,
});

export class RequestFramer extends BodyFraming {
  /** Set by HEAD; the request the following BODY and END events belong to. */
  head: RequestHead | null = null;
  headInChunk = false;
  headStart = 0;
  private readonly scanner: HeadScanner;
  private readonly limits: RequestLimits;

  constructor(limits: Partial<RequestLimits> = {}) {
    const l = { ...DEFAULT_REQUEST_LIMITS, ...limits };
    super(l.maxHeadBytes);
    this.limits = l;
    this.scanner = new HeadScanner(l, true);
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
        if (parsed.framing === "length") this.startLength(parsed.contentLength);
        else if (parsed.framing === "chunked") this.startChunked();
        else this.state = ST_END;
        return HEAD;
      }
      case ST_LENGTH:
        return this.lengthStep(buf, pos);
      case ST_CHUNKED:
        return this.chunkedStep(buf, pos);
      case ST_END: {
        const head = this.head!;
        this.state = head.upgrade ? ST_PAUSED : head.keepAlive ? ST_HEAD : ST_CLOSED;
        return END;
      }
      case ST_PAUSED:
        return PAUSED;
      case ST_CLOSED:
        return CLOSED;
      case ST_ERROR:
      default:
        return ERROR;
    }
  }

  /** After an upgrade request that did not become a tunnel: parse what follows as requests. */
  resume(): void {
    if (this.state === ST_PAUSED) this.state = this.head?.keepAlive === false ? ST_CLOSED : ST_HEAD;
  }
}
