// A complete HTTP/1.x response head from the upstream, parsed just far enough to know where
// the response ends (RFC 9112 §6.3) and whether the connection survives it. The bytes are
// forwarded to the client verbatim, so the checks are those that keep the proxy and the
// client agreeing on framing: malformed lines, differing Content-Length values, and
// Content-Length together with Transfer-Encoding are refused (the connection is closed).
//
//   status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF

import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TOKEN, equalsLower, latin1, listHasToken } from "./http-chars.js";
import { parseError, type HttpParseError } from "./parse-error.js";
import { parseDecimal } from "./request-head.js";

/** "close": the body runs until the upstream closes the connection. */
export type ResponseFraming = "none" | "length" | "chunked" | "close";

export class ResponseHead {
  constructor(
    /** The buffer holding the head at [start, end), exactly as received. */
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
    readonly status: number,
    readonly minorVersion: number,
    readonly framing: ResponseFraming,
    readonly contentLength: number,
    /** Whether the upstream keeps the connection open after this response. */
    readonly keepAlive: boolean,
  ) {}

  get raw(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }
}

/** What the response answers, which decides whether it can have a body. */
export interface ResponseContext {
  isHead: boolean;
  upgrade: boolean;
}

const bad = (m: string): HttpParseError => parseError("L7P_ERR_HTTP_RESPONSE", 502, m);

/** Parses the complete head at raw[start, end) (CRLF CRLF at its end, no bare LF). */
export function parseResponseHead(raw: Buffer, start: number, end: number, ctx: ResponseContext): ResponseHead | HttpParseError {
  const o = start;
  if (
    raw[o] !== 0x48 || raw[o + 1] !== 0x54 || raw[o + 2] !== 0x54 || raw[o + 3] !== 0x50 || raw[o + 4] !== 0x2f ||
    raw[o + 5] !== 0x31 || raw[o + 6] !== 0x2e || (raw[o + 7] !== 0x30 && raw[o + 7] !== 0x31) || raw[o + 8] !== SP
  ) {
    return bad("invalid status line");
  }
  const minorVersion = raw[o + 7]! - 0x30;
  const status = parseDecimal(raw, o + 9, o + 12);
  if (status < 100 || status > 999) return bad("invalid status code");
  let i = o + 12;
  if (raw[i] === SP) {
    i++;
    while (FIELD_VALUE[raw[i]!] === 1) i++;
  }
  if (raw[i] !== CR || raw[i + 1] !== LF) return bad("invalid status line");
  i += 2;

  let contentLength = -1;
  let transferEncoding: string | undefined;
  let connection: string | undefined;
  while (raw[i] !== CR) {
    const ns = i;
    while (TOKEN[raw[i]!] === 1) i++;
    if (raw[i] !== COLON || i === ns) return bad("invalid header field");
    const ne = i++;
    while (raw[i] === SP || raw[i] === HTAB) i++;
    const vs = i;
    while (FIELD_VALUE[raw[i]!] === 1) i++;
    if (raw[i] !== CR || raw[i + 1] !== LF) return bad("invalid character in header field");
    let ve = i;
    while (ve > vs && (raw[ve - 1] === SP || raw[ve - 1] === HTAB)) ve--;
    i += 2;
    const n = ne - ns;
    if (n === 14 && equalsLower(raw, ns, ne, "content-length")) {
      const v = parseDecimal(raw, vs, ve);
      if (v < 0 || (contentLength !== -1 && v !== contentLength)) return bad("invalid or conflicting Content-Length");
      contentLength = v;
    } else if (n === 17 && equalsLower(raw, ns, ne, "transfer-encoding")) {
      const v = latin1(raw, vs, ve);
      transferEncoding = transferEncoding === undefined ? v : `${transferEncoding},${v}`;
    } else if (n === 10 && equalsLower(raw, ns, ne, "connection")) {
      const v = latin1(raw, vs, ve);
      connection = connection === undefined ? v : `${connection},${v}`;
    }
  }
  if (raw[i + 1] !== LF) return bad("invalid end of header block");

  let keepAlive = minorVersion === 1;
  if (connection !== undefined) {
    if (listHasToken(connection, "close")) keepAlive = false;
    else if (minorVersion === 0 && listHasToken(connection, "keep-alive")) keepAlive = true;
  }

  let framing: ResponseFraming;
  if (status < 200 || status === 204 || status === 304 || ctx.isHead) {
    framing = "none";
  } else if (transferEncoding !== undefined) {
    if (contentLength !== -1) return bad("both Transfer-Encoding and Content-Length");
    // RFC 9112 §6.3: chunked last means chunked; any other final coding runs until close.
    framing = lastCodingIsChunked(transferEncoding) ? "chunked" : "close";
  } else if (contentLength !== -1) {
    framing = contentLength > 0 ? "length" : "none";
  } else {
    framing = "close";
  }
  if (framing === "close") keepAlive = false;
  if (status === 101 && !ctx.upgrade) return bad("101 Switching Protocols without an upgrade request");

  return new ResponseHead(raw, start, end, status, minorVersion, framing, framing === "length" ? contentLength : 0, keepAlive);
}

function lastCodingIsChunked(te: string): boolean {
  const comma = te.lastIndexOf(",");
  return te.slice(comma + 1).trim().toLowerCase() === "chunked";
}
