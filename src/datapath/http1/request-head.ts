// A complete HTTP/1.x request head (request line, header fields, final empty line) parsed
// strictly, in one pass over the bytes. RFC 9112 grammar, with every leniency that lets two
// parsers disagree about where a request ends turned into a refusal:
//
//   request-line = method SP request-target SP HTTP-version CRLF   (exactly one SP each)
//   field-line   = field-name ":" OWS field-value OWS CRLF         (no space before ":", no obs-fold)
//
// - Content-Length: 1*DIGIT, at most 15 digits, at most once. Identical duplicates, which
//   RFC 9110 §8.6 would allow a recipient to merge, are refused as well: a client that sends
//   them is broken or probing, and refusing costs nothing a real client needs.
// - Transfer-Encoding: exactly the bytes "chunked", at most once, never with Content-Length,
//   never in HTTP/1.0. Anything else ("Chunked", "gzip, chunked", "chunked, chunked") is a
//   classic smuggling vector when the next hop reads it differently, so it is refused.
// - Host: exactly one in HTTP/1.1 (RFC 9112 §3.2), at most one in HTTP/1.0.
// - CONNECT is refused: a transparent proxy talks to origin servers, which have no use for it.
// - Upgrade: only a WebSocket upgrade (`Upgrade: websocket`, one token, any case, with
//   `Connection: upgrade`) can become a tunnel, as with Cilium's Envoy. Any other Upgrade
//   (h2c above all: after a 101 the connection would carry HTTP/2 requests no policy sees)
//   is stripped, with HTTP2-Settings and the Connection tokens naming them, and the request
//   goes upstream as plain HTTP/1.1 (Envoy does the same since envoyproxy/envoy#7981).
// - The path is normalized as Cilium's Envoy does before policy (path-normalize.ts): `path`
//   is what policy matches, and `forwardTarget` what goes upstream when that differs from
//   what the client sent.
//
// The head keeps the raw bytes and the offsets of each field; strings are only made for what
// the policy asks about.

import type { HttpRequestFacts } from "../../policy/decision.js";
import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TOKEN, equalsIgnoreAsciiCase, equalsLower, latin1, listHasToken } from "./http-chars.js";
import { parseError, type HttpParseError } from "./parse-error.js";
import { normalizeTarget, scanTarget } from "./path-normalize.js";

export type BodyFraming = "none" | "length" | "chunked";

export class RequestHead implements HttpRequestFacts {
  private rawView: Buffer | null = null;

  constructor(
    /** The buffer holding the head at [start, end): exactly as received, final CRLF CRLF included. */
    readonly buf: Buffer,
    readonly start: number,
    readonly end: number,
    readonly method: string,
    /** The request target exactly as sent. */
    readonly target: string,
    /**
     * What policy matches as the path: the target (for absolute-form its path and query), with
     * the path part normalized as Envoy does; the query as sent.
     */
    readonly path: string,
    /** The Host header, or the authority of an absolute-form target; "" if neither. */
    readonly host: string,
    /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
    readonly minorVersion: number,
    /** [nameStart, nameEnd, valueStart, valueEnd] per field line, offsets into buf; value OWS trimmed. */
    readonly fields: readonly number[],
    /** Offset in buf where the first field line starts (just after the request line). */
    readonly fieldsStart: number,
    readonly framing: BodyFraming,
    /** Body length when framing is "length", else 0. */
    readonly contentLength: number,
    /** Whether the client lets the connection carry another request after this one. */
    readonly keepAlive: boolean,
    readonly expectContinue: boolean,
    /** A WebSocket upgrade request (HTTP/1.1, Connection: upgrade, Upgrade: websocket): a 101 turns the connection into a tunnel. */
    readonly upgrade: boolean,
    /** The target to send upstream when normalization changed it; null to send the head as received. */
    readonly forwardTarget: string | null = null,
    /** The path had %2F or %5C: answered with a redirect to `path`, as Envoy's UNESCAPE_AND_REDIRECT. */
    readonly escapedSlashes = false,
    /**
     * Set when the head carries an upgrade that is not a WebSocket one (or its leftovers:
     * HTTP2-Settings, a Connection "upgrade" token): what Connection keeps once the upgrade
     * tokens are gone ("" for nothing). The head is rewritten without them before it goes
     * upstream. Null when there is nothing to strip.
     */
    readonly strippedConnection: string | null = null,
  ) {}

  /** The head's bytes (a view, made on first use: the pass-through path never needs one). */
  get raw(): Buffer {
    if (this.rawView === null) this.rawView = this.buf.subarray(this.start, this.end);
    return this.rawView;
  }

  get fieldCount(): number {
    return this.fields.length >> 2;
  }

  fieldName(i: number): string {
    return latin1(this.buf, this.fields[i * 4]!, this.fields[i * 4 + 1]!);
  }

  fieldValue(i: number): string {
    return latin1(this.buf, this.fields[i * 4 + 2]!, this.fields[i * 4 + 3]!);
  }

  /** All values of a header joined with ",", or undefined; `nameLower` must be lower case. */
  header(nameLower: string): string | undefined {
    const f = this.fields;
    const raw = this.buf;
    let out: string | undefined;
    for (let i = 0; i < f.length; i += 4) {
      if (equalsIgnoreAsciiCase(raw, f[i]!, f[i + 1]!, nameLower)) {
        const v = latin1(raw, f[i + 2]!, f[i + 3]!);
        out = out === undefined ? v : `${out},${v}`;
      }
    }
    return out;
  }
}

export interface RequestHeadLimits {
  /** Most field lines accepted in one head; more is answered 431. */
  maxHeaders: number;
}

const badLine = (m: string): HttpParseError => parseError("L7P_ERR_HTTP_REQUEST_LINE", 400, m);
const badField = (m: string): HttpParseError => parseError("L7P_ERR_HTTP_HEADER", 400, m);

/**
 * Parses the complete head at raw[start, end). It must end with CRLF CRLF and contain no LF
 * without a CR before it; the head scanner of the request framer guarantees both.
 */
export function parseRequestHead(raw: Buffer, start: number, end: number, limits: RequestHeadLimits): RequestHead | HttpParseError {
  let i = start;
  while (TOKEN[raw[i]!] === 1) i++;
  if (i === start || raw[i] !== SP) return badLine("invalid method");
  const method = latin1(raw, start, i);
  const tStart = ++i;
  const scanned = scanTarget(raw, i);
  const targetNormal = scanned >= 0;
  i = targetNormal ? scanned : -scanned - 1;
  if (i === tStart || raw[i] !== SP) return badLine("invalid request target");
  const tEnd = i++;
  if (
    raw[i] !== 0x48 || raw[i + 1] !== 0x54 || raw[i + 2] !== 0x54 || raw[i + 3] !== 0x50 || raw[i + 4] !== 0x2f ||
    !isDigit(raw[i + 5]!) || raw[i + 6] !== 0x2e || !isDigit(raw[i + 7]!) || raw[i + 8] !== CR || raw[i + 9] !== LF
  ) {
    return badLine("invalid HTTP version");
  }
  if (raw[i + 5] !== 0x31 || (raw[i + 7] !== 0x30 && raw[i + 7] !== 0x31)) {
    return parseError("L7P_ERR_HTTP_VERSION", 505, "only HTTP/1.0 and HTTP/1.1 are supported");
  }
  const minorVersion = raw[i + 7]! - 0x30;
  i += 10;
  const fieldsStart = i;

  const fields: number[] = [];
  let hostCount = 0;
  let hostStart = 0;
  let hostEnd = 0;
  let contentLength = -1;
  let chunked = false;
  let expectContinue = false;
  let upgradeHeader = false;
  let upgradeValue: string | undefined;
  let http2Settings = false;
  let connection: string | undefined;
  while (raw[i] !== CR) {
    const ns = i;
    while (TOKEN[raw[i]!] === 1) i++;
    if (raw[i] !== COLON || i === ns) {
      const c = raw[i]!;
      if (i === ns && (c === SP || c === HTAB)) return badField("obs-fold (line folding) is not allowed");
      if (c === SP || c === HTAB) return badField("whitespace between field name and colon");
      return badField(i === ns ? "empty field name" : "invalid character in field name");
    }
    const ne = i++;
    while (raw[i] === SP || raw[i] === HTAB) i++;
    const vs = i;
    while (FIELD_VALUE[raw[i]!] === 1) i++;
    if (raw[i] !== CR || raw[i + 1] !== LF) return badField("invalid character in field value");
    let ve = i;
    while (ve > vs && (raw[ve - 1] === SP || raw[ve - 1] === HTAB)) ve--;
    i += 2;
    if (fields.length >= limits.maxHeaders * 4) {
      return parseError("L7P_ERR_HTTP_HEADER_TOO_LARGE", 431, `more than ${limits.maxHeaders} header fields`);
    }
    fields.push(ns, ne, vs, ve);
    switch (ne - ns) {
      case 4:
        if (equalsLower(raw, ns, ne, "host")) {
          hostCount++;
          hostStart = vs;
          hostEnd = ve;
        }
        break;
      case 6:
        if (equalsLower(raw, ns, ne, "expect") && equalsIgnoreAsciiCase(raw, vs, ve, "100-continue")) expectContinue = true;
        break;
      case 7:
        if (equalsLower(raw, ns, ne, "upgrade")) {
          const v = latin1(raw, vs, ve);
          upgradeValue = upgradeHeader ? `${upgradeValue},${v}` : v;
          upgradeHeader = true;
        }
        break;
      case 14:
        if (equalsLower(raw, ns, ne, "http2-settings")) http2Settings = true;
        else if (equalsLower(raw, ns, ne, "content-length")) {
          if (contentLength !== -1) return parseError("L7P_ERR_HTTP_CONTENT_LENGTH", 400, "more than one Content-Length");
          contentLength = parseDecimal(raw, vs, ve);
          if (contentLength < 0) return parseError("L7P_ERR_HTTP_CONTENT_LENGTH", 400, "invalid Content-Length");
        }
        break;
      case 10:
        if (equalsLower(raw, ns, ne, "connection")) {
          const v = latin1(raw, vs, ve);
          connection = connection === undefined ? v : `${connection},${v}`;
        }
        break;
      case 17:
        if (equalsLower(raw, ns, ne, "transfer-encoding")) {
          if (chunked) return parseError("L7P_ERR_HTTP_TRANSFER_ENCODING", 400, "more than one Transfer-Encoding");
          if (!isExactly(raw, vs, ve, "chunked")) {
            return parseError("L7P_ERR_HTTP_TRANSFER_ENCODING", 400, "Transfer-Encoding other than exactly chunked");
          }
          chunked = true;
        }
        break;
    }
  }
  if (raw[i + 1] !== LF) return badField("invalid end of header block");

  if (chunked && contentLength !== -1) {
    return parseError("L7P_ERR_HTTP_TRANSFER_ENCODING", 400, "both Transfer-Encoding and Content-Length");
  }
  if (chunked && minorVersion === 0) {
    return parseError("L7P_ERR_HTTP_TRANSFER_ENCODING", 400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (hostCount > 1) return parseError("L7P_ERR_HTTP_HOST", 400, "more than one Host header");
  if (hostCount === 0 && minorVersion === 1) return parseError("L7P_ERR_HTTP_HOST", 400, "HTTP/1.1 request without Host");
  if (method === "CONNECT") return parseError("L7P_ERR_HTTP_METHOD", 400, "CONNECT is not forwarded");

  const target = latin1(raw, tStart, tEnd);
  let path = target;
  let host = hostCount === 1 ? latin1(raw, hostStart, hostEnd) : "";
  /** What precedes the path in the target: "" for origin-form, scheme and authority for absolute-form. */
  let targetPrefix = "";
  let asterisk = false;
  const first = raw[tStart];
  if (first !== 0x2f) {
    if (first === 0x2a && tEnd - tStart === 1) {
      if (method !== "OPTIONS") return badLine("asterisk-form target outside OPTIONS");
      asterisk = true;
    } else {
      // absolute-form: RFC 9112 §3.2.2 says the authority in the target wins over Host,
      // and Envoy matches :authority and :path taken from it, so policy sees the same.
      const m = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
      if (m === null) return badLine("request target is neither origin-form nor absolute-form");
      host = m[1]!;
      targetPrefix = target.slice(0, target.length - m[2]!.length);
      path = m[2] === "" ? "/" : m[2]!;
      if (path.charCodeAt(0) !== 0x2f) path = `/${path}`;
    }
  }

  let forwardTarget: string | null = null;
  let escapedSlashes = false;
  if (!asterisk && !targetNormal) {
    const n = normalizeTarget(path);
    if (!("target" in n)) return n;
    escapedSlashes = n.escapedSlashes;
    if (n.target !== path) {
      path = n.target;
      forwardTarget = targetPrefix + n.target;
    }
  }

  let keepAlive = minorVersion === 1;
  let upgrade = false;
  let connectionUpgrade = false;
  if (connection !== undefined) {
    if (listHasToken(connection, "close")) keepAlive = false;
    else if (minorVersion === 0 && listHasToken(connection, "keep-alive")) keepAlive = true;
    connectionUpgrade = listHasToken(connection, "upgrade");
    upgrade = upgradeHeader && minorVersion === 1 && connectionUpgrade && isWebSocket(upgradeValue!);
  }
  let strippedConnection: string | null = null;
  if (!upgrade && (upgradeHeader || http2Settings || connectionUpgrade || (connection !== undefined && listHasToken(connection, "http2-settings")))) {
    strippedConnection = connection === undefined ? "" : withoutTokens(connection, UPGRADE_TOKENS);
  }

  return new RequestHead(
    raw,
    start,
    end,
    method,
    target,
    path,
    host,
    minorVersion,
    fields,
    fieldsStart,
    chunked ? "chunked" : contentLength > 0 ? "length" : "none",
    contentLength > 0 ? contentLength : 0,
    keepAlive,
    expectContinue,
    upgrade,
    forwardTarget,
    escapedSlashes,
    strippedConnection,
  );
}

/** Connection tokens that name the upgrade's headers: they go with it. */
const UPGRADE_TOKENS = new Set(["upgrade", "http2-settings"]);

/** Exactly one protocol, "websocket" in any case (RFC 6455 §4.2.1; Envoy compares the whole value). */
function isWebSocket(value: string): boolean {
  return value.trim().toLowerCase() === "websocket";
}

/** A comma-separated token list without the given (lower-case) tokens, normalized to ", ". */
function withoutTokens(list: string, drop: ReadonlySet<string>): string {
  return list
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "" && !drop.has(t.toLowerCase()))
    .join(", ");
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

/** 1*DIGIT with at most 15 digits (always a safe integer), else -1. */
export function parseDecimal(buf: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

function isExactly(buf: Uint8Array, start: number, end: number, ascii: string): boolean {
  if (end - start !== ascii.length) return false;
  for (let i = 0; i < ascii.length; i++) if (buf[start + i] !== ascii.charCodeAt(i)) return false;
  return true;
}
