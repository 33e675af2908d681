// Finds where a message head (start line + field lines + empty line) ends, across as many
// socket reads as it takes, without ever holding more than the configured limit.
//
// Every LF must follow a CR: a bare LF is refused here, as soon as it is seen, because a
// parser that accepts it and one that does not disagree about where lines (and so
// messages) end. Bare CRs inside a line are left to the head parsers, which refuse every
// control byte. The common case, a head that arrives whole in one read, is found with one
// native indexOf per line and returned as a view into that read, never copied.

import { CR, LF } from "./http-chars.js";
import { parseError, type HttpParseError } from "./parse-error.js";

export interface HeadLimits {
  /** Longest start line (request line / status line), CRLF excluded; longer is answered 431. */
  maxStartLineBytes: number;
  /** Largest head, start line and final empty line included; larger is answered 431. */
  maxHeadBytes: number;
}

/** Empty lines tolerated before a request line (RFC 9112 §2.2 says to ignore at least one). */
const MAX_LEADING_EMPTY_LINES = 4;

export class HeadScanner {
  /**
   * After scan() returned a position, the complete head is headBuf[headStart, headEnd):
   * the read itself when headInChunk (no copy, no view object), else the pieces joined.
   */
  headBuf: Buffer = Buffer.alloc(0);
  headStart = 0;
  headEnd = 0;
  headInChunk = false;
  error: HttpParseError | null = null;
  /** Bytes of an unfinished head, copied out of earlier reads. */
  private partial: Buffer[] = [];
  private partialLen = 0;
  /** Offset, from the head's first byte, where the current line starts. */
  private lineStart = 0;
  private lastByte = 0;
  private startLineDone = false;
  private emptyLines = 0;

  constructor(
    private readonly limits: HeadLimits,
    private readonly allowLeadingEmptyLines: boolean,
  ) {}

  /** True while some bytes of a head have been seen but not its end. */
  get inProgress(): boolean {
    return this.partialLen > 0;
  }

  /** Bytes currently held for an unfinished head. */
  get bufferedBytes(): number {
    return this.partialLen;
  }

  /**
   * Scans buf from pos. Returns the position just after the head when it is complete
   * (`head` set), -1 when all of buf was taken and more is needed, -2 on error (`error` set).
   */
  scan(buf: Buffer, pos: number): number {
    const len = buf.length;
    let start = pos;
    let s = pos;
    for (;;) {
      const lf = buf.indexOf(LF, s);
      if (lf === -1) {
        const total = this.partialLen + (len - start);
        if (!this.startLineDone && total - this.lineStart > this.limits.maxStartLineBytes) return this.tooLarge("start line");
        if (total > this.limits.maxHeadBytes) return this.tooLarge("header block");
        if (len > start) {
          // Copy: the read may be a view of a much larger allocation that must not stay alive.
          this.partial.push(Buffer.from(buf.subarray(start, len)));
          this.partialLen = total;
          this.lastByte = buf[len - 1]!;
        }
        return -1;
      }
      const absLf = this.partialLen + (lf - start);
      if (absLf + 1 > this.limits.maxHeadBytes) return this.tooLarge("header block");
      const prev = lf > start ? buf[lf - 1]! : this.partialLen > 0 ? this.lastByte : -1;
      if (prev !== CR) {
        return this.fail(parseError("L7P_ERR_HTTP_HEADER", 400, "bare LF line ending"));
      }
      const lineLen = absLf - 1 - this.lineStart;
      if (!this.startLineDone) {
        if (lineLen === 0) {
          if (!this.allowLeadingEmptyLines || ++this.emptyLines > MAX_LEADING_EMPTY_LINES) {
            return this.fail(parseError("L7P_ERR_HTTP_REQUEST_LINE", 400, "empty start line"));
          }
          this.partial = [];
          this.partialLen = 0;
          this.lineStart = 0;
          start = s = lf + 1;
          continue;
        }
        if (lineLen > this.limits.maxStartLineBytes) return this.tooLarge("start line");
        this.startLineDone = true;
      } else if (lineLen === 0) {
        if (this.partialLen === 0) {
          this.headBuf = buf;
          this.headStart = start;
          this.headEnd = lf + 1;
          this.headInChunk = true;
        } else {
          this.partial.push(buf.subarray(start, lf + 1));
          this.headBuf = Buffer.concat(this.partial, absLf + 1);
          this.headStart = 0;
          this.headEnd = absLf + 1;
          this.headInChunk = false;
        }
        this.reset();
        return lf + 1;
      }
      this.lineStart = absLf + 1;
      s = lf + 1;
    }
  }

  /** Forgets any unfinished head, ready for the next message. */
  reset(): void {
    this.partial = [];
    this.partialLen = 0;
    this.lineStart = 0;
    this.lastByte = 0;
    this.startLineDone = false;
    this.emptyLines = 0;
  }

  private tooLarge(what: string): number {
    return this.fail(parseError("L7P_ERR_HTTP_HEADER_TOO_LARGE", 431, `${what} exceeds the limit`));
  }

  private fail(err: HttpParseError): number {
    this.error = err;
    this.reset();
    return -2;
  }
}
