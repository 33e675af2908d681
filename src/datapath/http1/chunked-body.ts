// Validates a chunked body (RFC 9112 §7.1) as it streams past, without decoding it: the bytes
// are forwarded verbatim, this only says where the body ends and refuses anything two
// parsers could read differently.
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
//
// Refused: a size that is not hex or is larger than 2^48, chunk data not followed by exactly
// CRLF, bare CR or LF, control bytes, a size line longer than 4 KiB, more than 16 KiB of
// extensions in one body (extensions cost the proxy time while carrying no data), obs-fold
// or malformed trailer fields, and trailers larger than the head limit.

import { CR, FIELD_VALUE, HEX, HTAB, LF, SP, TOKEN, COLON } from "./http-chars.js";
import { parseError, type HttpParseError } from "./parse-error.js";

const S_SIZE_FIRST = 0;
const S_SIZE = 1;
const S_EXT_BWS = 2;
const S_EXT = 3;
const S_SIZE_LF = 4;
const S_DATA = 5;
const S_DATA_CR = 6;
const S_DATA_LF = 7;
const S_TRAILER_START = 8;
const S_TRAILER_NAME = 9;
const S_TRAILER_VALUE = 10;
const S_TRAILER_LF = 11;
const S_END_LF = 12;
const S_DONE = 13;

const MAX_SIZE_LINE = 4096;
const MAX_EXT_BYTES = 16 * 1024;
const MAX_CHUNK_SIZE = 2 ** 48;

export class ChunkedBody {
  done = false;
  error: HttpParseError | null = null;
  private state = S_SIZE_FIRST;
  private size = 0;
  private lineBytes = 0;
  private extBytes = 0;
  private trailerBytes = 0;

  constructor(private readonly maxTrailerBytes: number) {}

  reset(): void {
    this.done = false;
    this.error = null;
    this.state = S_SIZE_FIRST;
    this.size = 0;
    this.lineBytes = 0;
    this.extBytes = 0;
    this.trailerBytes = 0;
  }

  /**
   * Consumes buf[pos, end) up to the end of the body. Returns the position reached: `end`,
   * the position just after the body (`done`), or where an error was found (`error`).
   */
  execute(buf: Uint8Array, pos: number, end: number): number {
    let i = pos;
    let state = this.state;
    while (i < end) {
      if (state === S_DATA) {
        const n = Math.min(this.size, end - i);
        i += n;
        this.size -= n;
        if (this.size === 0) state = S_DATA_CR;
        continue;
      }
      const b = buf[i]!;
      switch (state) {
        case S_SIZE_FIRST:
        case S_SIZE: {
          const h = HEX[b]!;
          if (h !== 0) {
            this.size = this.size * 16 + (h - 1);
            if (this.size > MAX_CHUNK_SIZE) return this.fail(i, "chunk size too large");
            state = S_SIZE;
          } else if (state === S_SIZE_FIRST) {
            return this.fail(i, "chunk size is not hexadecimal");
          } else if (b === CR) {
            state = S_SIZE_LF;
          } else if (b === SP || b === HTAB) {
            state = S_EXT_BWS;
          } else if (b === 0x3b) {
            state = S_EXT;
          } else {
            return this.fail(i, "invalid character after chunk size");
          }
          break;
        }
        case S_EXT_BWS:
          if (b === 0x3b) state = S_EXT;
          else if (b === CR) state = S_SIZE_LF;
          else if (b !== SP && b !== HTAB) return this.fail(i, "invalid chunk extension");
          break;
        case S_EXT:
          if (b === CR) state = S_SIZE_LF;
          else if (FIELD_VALUE[b] !== 1) return this.fail(i, "invalid character in chunk extension");
          else if (++this.extBytes > MAX_EXT_BYTES) return this.fail(i, "too many chunk extension bytes");
          break;
        case S_SIZE_LF:
          if (b !== LF) return this.fail(i, "chunk size line not ended by CRLF");
          this.lineBytes = 0;
          state = this.size === 0 ? S_TRAILER_START : S_DATA;
          break;
        case S_DATA_CR:
          if (b !== CR) return this.fail(i, "chunk data not followed by CRLF");
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (b !== LF) return this.fail(i, "chunk data not followed by CRLF");
          state = S_SIZE_FIRST;
          break;
        case S_TRAILER_START:
          if (b === CR) state = S_END_LF;
          else if (TOKEN[b] === 1) state = S_TRAILER_NAME;
          else if (b === SP || b === HTAB) return this.fail(i, "obs-fold in trailer section");
          else return this.fail(i, "invalid trailer field");
          break;
        case S_TRAILER_NAME:
          if (b === COLON) state = S_TRAILER_VALUE;
          else if (TOKEN[b] !== 1) return this.fail(i, "invalid trailer field name");
          break;
        case S_TRAILER_VALUE:
          if (b === CR) state = S_TRAILER_LF;
          else if (FIELD_VALUE[b] !== 1) return this.fail(i, "invalid character in trailer field");
          break;
        case S_TRAILER_LF:
          if (b !== LF) return this.fail(i, "trailer field not ended by CRLF");
          state = S_TRAILER_START;
          break;
        case S_END_LF:
          if (b !== LF) return this.fail(i, "chunked body not ended by CRLF");
          this.state = S_DONE;
          this.done = true;
          return i + 1;
        default:
          return this.fail(i, "data after the end of a chunked body");
      }
      if (state <= S_SIZE_LF) {
        if (++this.lineBytes > MAX_SIZE_LINE) return this.fail(i, "chunk size line too long");
      } else if (state >= S_TRAILER_START && ++this.trailerBytes > this.maxTrailerBytes) {
        return this.fail(i, "trailer section too large");
      }
      i++;
    }
    this.state = state;
    return i;
  }

  private fail(at: number, message: string): number {
    this.error = parseError("L7P_ERR_HTTP_CHUNK", 400, message);
    this.state = S_DONE;
    return at;
  }
}
