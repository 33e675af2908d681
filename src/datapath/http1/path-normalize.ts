// The request path as Cilium's Envoy sees it before policy: Cilium sets, on every HTTP
// connection manager it generates (pkg/envoy/xds_server.go, http-normalize-path=true):
//   normalize_path: true, merge_slashes: true, path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT
// Envoy applies them in ConnectionManagerUtility::maybeNormalizePath, in this order, to the path
// part only (the query, from the first "?", is kept byte for byte):
//   1. escaped slashes: "%2F"/"%2f" become "/" and "%5C"/"%5c" become "\"; if any were there,
//      the request is answered with a 307 redirect to the fully normalized path instead of
//      being processed (envoy/source/common/http/conn_manager_utility.cc; HCM docs for
//      path_with_escaped_slashes_action: "UNESCAPE_AND_REDIRECT ... forcing request to be
//      re-issued with the same path across all parties");
//   2. normalize_path: Chromium's URL path canonicalizer (url::CanonicalizePath, envoy
//      source/common/http/path_utility.cc PathTransformer::rfcNormalize), which
//      - treats "\" as "/";
//      - removes "." and ".." segments, "%2e"/"%2E" counting as "." (RFC 3986 §5.2.4), never
//        climbing above the root ("/a/../../c" is "/c");
//      - decodes escapes of unreserved characters (ALPHA DIGIT - . _ ~, RFC 3986 §6.2.2.2);
//      - keeps other escapes exactly, hex case included (Envoy's tests: "/%c0%af" and
//        "/a/%2F%2f/c" are unchanged; Chromium: "we don't want to change the case of any hex
//        letters in case the server is sensitive to that");
//      - escapes, in upper-case hex, the bytes a path may not carry literally: " < > \ ^ ` { | }
//        DEL and every byte >= 0x80;
//      - fails on "%00" (Envoy answers 400);
//   3. merge_slashes: runs of "/" become one (after step 2, so "/a//../b" is "/a/b", as in Envoy).
// Deviations, each failing closed where Envoy is lenient:
// - A "%" not followed by two hex digits is refused (400); Chromium passes it through, but
//   upstreams disagree on what it means, and the proxy must never decide on a path the
//   upstream reads differently.
// - A "#" anywhere in the target is refused (400), as Envoy does with its default
//   http_reject_path_with_fragment; RFC 9112 §3.2 has no fragment in a request target.
// - Bytes >= 0x80 are escaped one by one; Chromium decodes UTF-8 first and writes U+FFFD for
//   invalid sequences. For valid UTF-8 the result is the same.
// The session forwards the normalized target, so the upstream always sees the path that policy
// decided on. For escaped slashes it answers the 307 as Envoy does: nothing is forwarded, and
// the client's retry is decided like any other request.
//
// Almost every real path needs none of this: scanTarget() finds the end of the target in the
// request line and says whether it needs normalizing in the same pass over the bytes, without
// allocating; only the rest goes through normalizeTarget().

import { HEX, TARGET } from "./http-chars.js";
import { parseError, type HttpParseError } from "./parse-error.js";

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;

/** Bytes that make a path need the slow path when seen literally. */
const SPECIAL = new Uint8Array(256);
/** Bytes Chromium escapes when they appear literally in a path. */
const ESCAPE = new Uint8Array(256);
/** Bytes whose escapes Chromium decodes (RFC 3986 unreserved, "." handled as a dot). */
const UNESCAPE = new Uint8Array(256);
for (const c of '"<>\\^`{|}') ESCAPE[c.charCodeAt(0)] = 1;
for (let c = 0; c < 0x20; c++) ESCAPE[c] = 1;
for (let c = 0x7f; c <= 0xff; c++) ESCAPE[c] = 1;
ESCAPE[0x20] = 1;
for (let c = 0; c < 256; c++) SPECIAL[c] = ESCAPE[c]!;
SPECIAL[PERCENT] = 1;
SPECIAL[HASH] = 1;
for (const c of "-_~") UNESCAPE[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) UNESCAPE[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) UNESCAPE[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) UNESCAPE[c] = 1;

const UPPER_HEX = "0123456789ABCDEF";

/** Target bytes that need no look in a path: TARGET minus SPECIAL, "/" and "?". */
const PATH_PLAIN = new Uint8Array(256);
/** Target bytes that need no look in a query: TARGET minus "#". */
const QUERY_PLAIN = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  PATH_PLAIN[c] = TARGET[c] === 1 && SPECIAL[c] === 0 && c !== SLASH && c !== QUESTION ? 1 : 0;
  QUERY_PLAIN[c] = TARGET[c] === 1 && c !== HASH ? 1 : 0;
}

/**
 * Scans a request target in raw from `start`, up to the first byte TARGET refuses. Returns
 * that position, or -(position + 1) when normalizeTarget() must look at the target (it may
 * still find nothing to change). Flags whatever isNormalTarget() would.
 */
export function scanTarget(raw: Uint8Array, start: number): number {
  let i = start;
  let normal = true;
  for (;;) {
    while (PATH_PLAIN[raw[i]!] === 1) i++;
    const c = raw[i]!;
    if (c === SLASH) {
      const d = raw[i + 1];
      if (d === SLASH) normal = false;
      else if (d === DOT) {
        const e = raw[i + 2];
        // The end of the target is SP or any byte TARGET refuses.
        if (e === SLASH || e === QUESTION || e === DOT || TARGET[e ?? 0] !== 1) normal = false;
      }
      i++;
    } else if (c === QUESTION) {
      for (;;) {
        while (QUERY_PLAIN[raw[i]!] === 1) i++;
        if (raw[i] !== HASH) break;
        normal = false;
        i++;
      }
      break;
    } else if (TARGET[c] === 1) {
      normal = false;
      i++;
    } else {
      break;
    }
  }
  return normal ? i : -(i + 1);
}

export interface NormalizedTarget {
  /** Normalized path followed by the query exactly as sent. */
  target: string;
  /** The path had %2F or %5C: Envoy answers 307 with `location: <target>` instead of proxying. */
  escapedSlashes: boolean;
}

const bad = (m: string): HttpParseError => parseError("L7P_ERR_HTTP_PATH", 400, m);

/**
 * True when normalizeTarget(target) would return target unchanged and without a redirect.
 * One pass, no allocation; `target` is an origin-form path (starts with "/").
 */
export function isNormalTarget(target: string): boolean {
  const n = target.length;
  for (let i = 0; i < n; i++) {
    const c = target.charCodeAt(i);
    if (c === QUESTION) return target.indexOf("#", i) === -1;
    if (c > 0xff || SPECIAL[c] === 1) return false;
    if (c === SLASH) {
      const d = target.charCodeAt(i + 1);
      if (d === SLASH) return false;
      if (d === DOT) {
        // "/." opens a dot segment only if followed by "/", "?", the end, or another dot.
        const e = target.charCodeAt(i + 2);
        if (e !== e || e === SLASH || e === QUESTION || e === DOT) return false;
      }
    }
  }
  return true;
}

/**
 * The target as Envoy would match and forward it, or a 400 for what cannot be normalized.
 * `target` holds one byte per character (latin1), as the request head parser makes it.
 */
export function normalizeTarget(target: string): NormalizedTarget | HttpParseError {
  if (target.indexOf("#") !== -1) return bad("fragment in request target");
  const q = target.indexOf("?");
  let path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? "" : target.slice(q);

  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) > 0xff) return bad("path is not one byte per character");
  }
  for (let i = path.indexOf("%"); i !== -1; i = path.indexOf("%", i + 1)) {
    const hi = HEX[path.charCodeAt(i + 1)] ?? 0;
    const lo = HEX[path.charCodeAt(i + 2)] ?? 0;
    if (hi === 0 || lo === 0) return bad("malformed percent-encoding in path");
    if (hi === 1 && lo === 1) return bad("%00 in path");
  }

  let escapedSlashes = false;
  if (/%(?:2f|5c)/i.test(path)) {
    escapedSlashes = true;
    path = path.replace(/%2f/gi, "/").replace(/%5c/gi, "\\");
  }
  return { target: mergeSlashes(canonicalize(path)) + query, escapedSlashes };
}

function isSlash(c: number): boolean {
  return c === SLASH || c === BACKSLASH;
}

/** Length of a dot at p[i]: 1 for ".", 3 for "%2e"/"%2E", 0 for none. */
function dotLength(p: string, i: number): number {
  const c = p.charCodeAt(i);
  if (c === DOT) return 1;
  if (c === PERCENT && p.charCodeAt(i + 1) === 0x32 && (p.charCodeAt(i + 2) | 0x20) === 0x65) return 3;
  return 0;
}

/** Chromium's path canonicalization of p (escapes already validated). */
function canonicalize(p: string): Uint8Array {
  const n = p.length;
  // Escaping triples a byte at most; one more for a leading "/".
  const out = new Uint8Array(n * 3 + 1);
  let o = 0;
  if (n === 0 || !isSlash(p.charCodeAt(0))) out[o++] = SLASH;
  for (let i = 0; i < n; i++) {
    const c = p.charCodeAt(i);
    const dot = dotLength(p, i);
    if (dot > 0) {
      if (o > 0 && out[o - 1] === SLASH) {
        const after = i + dot;
        let consumed = 0;
        let up = false;
        let segment = true;
        if (after === n) {
          consumed = 0;
        } else if (isSlash(p.charCodeAt(after))) {
          consumed = 1;
        } else {
          const dot2 = dotLength(p, after);
          if (dot2 > 0 && after + dot2 === n) {
            up = true;
            consumed = dot2;
          } else if (dot2 > 0 && isSlash(p.charCodeAt(after + dot2))) {
            up = true;
            consumed = dot2 + 1;
          } else {
            segment = false;
          }
        }
        if (!segment) {
          out[o++] = DOT;
          i += dot - 1;
        } else {
          if (up) o = backUpToPreviousSlash(out, o);
          i += dot + consumed - 1;
        }
      } else {
        out[o++] = DOT;
        i += dot - 1;
      }
    } else if (c === BACKSLASH) {
      out[o++] = SLASH;
    } else if (c === PERCENT) {
      const v = ((HEX[p.charCodeAt(i + 1)]! - 1) << 4) | (HEX[p.charCodeAt(i + 2)]! - 1);
      if (UNESCAPE[v] === 1) {
        out[o++] = v;
      } else {
        out[o++] = PERCENT;
        out[o++] = p.charCodeAt(i + 1);
        out[o++] = p.charCodeAt(i + 2);
      }
      i += 2;
    } else if (ESCAPE[c] === 1) {
      out[o++] = PERCENT;
      out[o++] = UPPER_HEX.charCodeAt(c >> 4);
      out[o++] = UPPER_HEX.charCodeAt(c & 15);
    } else {
      out[o++] = c;
    }
  }
  return out.subarray(0, o);
}

/** out[0, o) ends with "/": drop the last segment (never the leading "/"); the new length. */
function backUpToPreviousSlash(out: Uint8Array, o: number): number {
  let i = o - 1;
  if (i === 0) return o;
  i--;
  while (out[i] !== SLASH && i > 0) i--;
  return i + 1;
}

function mergeSlashes(path: Uint8Array): string {
  let w = 0;
  for (let r = 0; r < path.length; r++) {
    const c = path[r]!;
    if (c === SLASH && w > 0 && path[w - 1] === SLASH) continue;
    path[w++] = c;
  }
  return Buffer.from(path.buffer, path.byteOffset, w).toString("latin1");
}
