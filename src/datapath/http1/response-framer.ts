// Splits the upstream's byte stream into responses, so the session knows where each one ends
// and can slot local replies (403s) between them in request order. Same step contract as the
// request framer: execute(buf, pos) until NEED_MORE, reading `pos` after each call.
//   HEAD    a head is in `head`: interim (1xx other than an accepted 101: another head
//           follows for the same request) or final
//   BODY    buf[bodyStart, pos) is body, verbatim
//   END     the response is complete
//   UPGRADE a 101 answered an upgrade request: everything after its head is tunnel data
//   ERROR   `error` says why
// A response that runs until close ends when the upstream closes: call endOfStream().
//
// begin(ctx) must be called before each response with what the request was (HEAD? upgrade?).

import { ChunkedBody } from "./chunked-body.js";
import { HeadScanner, type HeadLimits } from "./head-scanner.js";
import type { HttpParseError } from "./parse-error.js";
import { BODY, END, ERROR, HEAD, NEED_MORE } from "./request-framer.js";
import { ResponseHead, parseResponseHead, type ResponseContext } from "./response-head.js";

export { BODY, END, ERROR, HEAD, NEED_MORE };
export const UPGRADE = 7;
export type ResponseEvent = typeof NEED_MORE | typeof HEAD | typeof BODY | typeof END | typeof UPGRADE | typeof ERROR;

const ST_IDLE = 0;
const ST_HEAD = 1;
const ST_LENGTH = 2;
const ST_CHUNKED = 3;
const ST_CLOSE = 4;
const ST_END = 5;
const ST_TUNNEL = 6;
const ST_ERROR = 7;

export const DEFAULT_RESPONSE_LIMITS: Readonly<HeadLimits> = Object.freeze({
  maxStartLineBytes: 8 * 1024,
  maxHeadBytes: 128 * 1024,
});

export class ResponseFramer {
  pos = 0;
  head: ResponseHead | null = null;
  headInChunk = false;
  headStart = 0;
  bodyStart = 0;
  error: HttpParseError | null = null;
  private state = ST_IDLE;
  private remaining = 0;
  private ctx: ResponseContext = { isHead: false, upgrade: false };
  private readonly scanner: HeadScanner;
  private readonly chunked: ChunkedBody;

  constructor(limits: Partial<HeadLimits> = {}) {
    const l = { ...DEFAULT_RESPONSE_LIMITS, ...limits };
    this.scanner = new HeadScanner(l, false);
    this.chunked = new ChunkedBody(l.maxHeadBytes);
  }

  /** True when no response has been started (or the last one ended). */
  get idle(): boolean {
    return this.state === ST_IDLE;
  }

  /** True once the final head was seen and only body bytes remain. */
  get inBody(): boolean {
    return this.state === ST_LENGTH || this.state === ST_CHUNKED || this.state === ST_CLOSE;
  }

  begin(ctx: ResponseContext): void {
    this.ctx = ctx;
    this.state = ST_HEAD;
    this.head = null;
  }

  execute(buf: Buffer, pos: number): ResponseEvent {
    this.pos = pos;
    switch (this.state) {
      case ST_HEAD: {
        if (pos >= buf.length) return NEED_MORE;
        const end = this.scanner.scan(buf, pos);
        if (end === -1) {
          this.pos = buf.length;
          return NEED_MORE;
        }
        if (end === -2) return this.fail({ ...this.scanner.error!, code: "L7P_ERR_HTTP_RESPONSE", status: 502 });
        const s = this.scanner;
        const parsed = parseResponseHead(s.headBuf, s.headStart, s.headEnd, this.ctx);
        if (!(parsed instanceof ResponseHead)) return this.fail(parsed);
        this.head = parsed;
        this.headInChunk = s.headInChunk;
        this.headStart = s.headStart;
        this.pos = end;
        if (parsed.status === 101) {
          this.state = ST_TUNNEL;
          return UPGRADE;
        }
        if (parsed.status < 200) return HEAD;
        if (parsed.framing === "length") {
          this.state = ST_LENGTH;
          this.remaining = parsed.contentLength;
        } else if (parsed.framing === "chunked") {
          this.state = ST_CHUNKED;
          this.chunked.reset();
        } else if (parsed.framing === "close") {
          this.state = ST_CLOSE;
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
        if (this.chunked.error !== null) return this.fail({ ...this.chunked.error, code: "L7P_ERR_HTTP_RESPONSE", status: 502 });
        this.bodyStart = pos;
        this.pos = at;
        if (this.chunked.done) this.state = ST_END;
        return BODY;
      }
      case ST_CLOSE:
        if (pos >= buf.length) return NEED_MORE;
        this.bodyStart = pos;
        this.pos = buf.length;
        return BODY;
      case ST_END:
        this.state = ST_IDLE;
        return END;
      case ST_IDLE:
        if (pos >= buf.length) return NEED_MORE;
        return this.fail({ code: "L7P_ERR_HTTP_RESPONSE", status: 502, message: "response bytes with no request waiting" });
      case ST_TUNNEL:
        return UPGRADE;
      default:
        return ERROR;
    }
  }

  /**
   * The upstream closed its side. True when that completes the current response (a body
   * that runs until close) or no response was under way; false when a response was cut short.
   */
  endOfStream(): boolean {
    if (this.state === ST_CLOSE) {
      this.state = ST_IDLE;
      return true;
    }
    return this.state === ST_IDLE || this.state === ST_END;
  }

  private fail(err: HttpParseError): ResponseEvent {
    this.error = err;
    this.state = ST_ERROR;
    return ERROR;
  }
}
