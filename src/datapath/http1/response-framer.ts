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

import { BODY, BodyFraming, END, ERROR, HEAD, NEED_MORE, ST_CHUNKED, ST_END, ST_ERROR, ST_LENGTH, ST_OWN, ST_START } from "./body-framing.js";
import { HeadScanner, type HeadLimits } from "./head-scanner.js";
import type { HttpParseError } from "./parse-error.js";
import { ResponseHead, parseResponseHead, type ResponseContext } from "./response-head.js";

export { BODY, END, ERROR, HEAD, NEED_MORE };
export const UPGRADE = 7;
export type ResponseEvent = typeof NEED_MORE | typeof HEAD | typeof BODY | typeof END | typeof UPGRADE | typeof ERROR;

const ST_IDLE = ST_START;
const ST_HEAD = ST_OWN;
const ST_CLOSE = ST_OWN + 1;
const ST_TUNNEL = ST_OWN + 2;

export const DEFAULT_RESPONSE_LIMITS: Readonly<HeadLimits> = Object.freeze({
  maxStartLineBytes: 8 * 1024,
  maxHeadBytes: 128 * 1024,
});

export class ResponseFramer extends BodyFraming {
  head: ResponseHead | null = null;
  headInChunk = false;
  headStart = 0;
  private ctx: ResponseContext = { isHead: false, upgrade: false };
  private readonly scanner: HeadScanner;

  constructor(limits: Partial<HeadLimits> = {}) {
    const l = { ...DEFAULT_RESPONSE_LIMITS, ...limits };
    super(l.maxHeadBytes);
    this.scanner = new HeadScanner(l, false);
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
        if (parsed.framing === "length") this.startLength(parsed.contentLength);
        else if (parsed.framing === "chunked") this.startChunked();
        else if (parsed.framing === "close") this.state = ST_CLOSE;
        else this.state = ST_END;
        return HEAD;
      }
      case ST_LENGTH:
        return this.lengthStep(buf, pos);
      case ST_CHUNKED:
        return this.chunkedStep(buf, pos);
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
      case ST_ERROR:
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

  protected override bodyError(err: HttpParseError): HttpParseError {
    return { ...err, code: "L7P_ERR_HTTP_RESPONSE", status: 502 };
  }
}
