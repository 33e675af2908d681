// One HTTP/2 request's headers as policy sees them, and as they go upstream. Same rules as
// for HTTP/1 (http1/request-head.ts), in HTTP/2's terms:
// - method is :method; host is :authority (the Host header when :authority is absent);
// - :path is normalized exactly as an HTTP/1 target (http1/path-normalize.ts), and the
//   normalized path is what goes upstream, so the upstream never reads a path other than the
//   one policy decided on; escaped slashes get Envoy's 307 instead;
// - header(name) joins every field line of that name with ",", from the raw field lines
//   (Node's header object joins some with ", " and keeps the first of others);
// - CONNECT (plain or extended) is refused, as for HTTP/1: an origin server has no use for it.
// nghttp2 has already refused what HTTP/2 itself forbids (upper-case names, connection-
// specific fields, missing or repeated pseudo-headers); what it lets through and the
// HTTP/1 path rules refuse (controls or SP in :path, "#", bad %-escapes) is refused here.

import type { ErrorCode } from "../../errors/codes.js";
import type { HttpRequestFacts } from "../../policy/decision.js";
import { TARGET } from "../http1/http-chars.js";
import { isNormalTarget, normalizeTarget } from "../http1/path-normalize.js";

export class Http2RequestFacts implements HttpRequestFacts {
  constructor(
    readonly method: string,
    /** The normalized :path (the query as sent): what policy matches and what is forwarded. */
    readonly path: string,
    readonly host: string,
    readonly scheme: string,
    /** Field lines as received, [name, value, name, value, ...], pseudo-headers included. */
    readonly raw: readonly string[],
    /** :path had %2F or %5C: answered with a 307 to `path`. */
    readonly escapedSlashes: boolean,
  ) {}

  header(nameLower: string): string | undefined {
    const raw = this.raw;
    let out: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i] === nameLower) out = out === undefined ? raw[i + 1]! : `${out},${raw[i + 1]!}`;
    }
    return out;
  }
}

export interface RequestRefusal {
  code: ErrorCode;
  status: 400;
  message: string;
}

/** Builds the facts from a stream's raw field lines (names are lower case in HTTP/2). */
export function requestFactsOf(raw: readonly string[]): Http2RequestFacts | RequestRefusal {
  let method = "";
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  let scheme = "http";
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (name === ":method") method = raw[i + 1]!;
      else if (name === ":path") path = raw[i + 1]!;
      else if (name === ":authority") authority = raw[i + 1]!;
      else if (name === ":scheme") scheme = raw[i + 1]!;
      else if (name === ":protocol") return refuse("L7P_ERR_HTTP_METHOD", "extended CONNECT is not forwarded");
    } else if (name === "host" && host === undefined) {
      host = raw[i + 1]!;
    }
  }
  if (method === "CONNECT") return refuse("L7P_ERR_HTTP_METHOD", "CONNECT is not forwarded");
  if (path === undefined || path.length === 0) return refuse("L7P_ERR_HTTP_PATH", "missing :path");
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c > 0xff || TARGET[c] !== 1) return refuse("L7P_ERR_HTTP_PATH", "control character, space or non-latin1 character in :path");
  }
  let normalized = path;
  let escapedSlashes = false;
  if (path === "*") {
    if (method !== "OPTIONS") return refuse("L7P_ERR_HTTP_PATH", "asterisk :path outside OPTIONS");
  } else if (path.charCodeAt(0) !== 0x2f) {
    return refuse("L7P_ERR_HTTP_PATH", ":path is not an absolute path");
  } else if (!isNormalTarget(path)) {
    const n = normalizeTarget(path);
    if (!("target" in n)) return refuse(n.code, n.message);
    normalized = n.target;
    escapedSlashes = n.escapedSlashes;
  }
  return new Http2RequestFacts(method, normalized, authority ?? host ?? "", scheme, raw, escapedSlashes);
}

function refuse(code: ErrorCode, message: string): RequestRefusal {
  return { code, status: 400, message };
}
