// Byte classes of RFC 9110 / RFC 9112, as lookup tables so the parsers test one byte with one
// array read and never build strings to validate them.

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;

/** tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
export const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

/**
 * Bytes allowed inside a field value (and a reason phrase): VCHAR, obs-text, SP and HTAB.
 * Every other control byte, NUL and DEL included, is refused; a CR is only legal as the
 * first half of the line's CRLF, which the parsers check separately.
 */
export const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[SP] = 1;
FIELD_VALUE[HTAB] = 1;
for (let c = 0x21; c <= 0x7e; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD_VALUE[c] = 1;

/**
 * Bytes allowed in a request target. The URI grammar is ASCII, but clients do send raw
 * UTF-8 paths and both Node and Envoy accept them, so obs-text is let through (decoded as
 * latin1, one byte per character); controls, SP and DEL never are.
 */
export const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;
for (let c = 0x80; c <= 0xff; c++) TARGET[c] = 1;

/** Hex digit value + 1 (0 means not a hex digit). */
export const HEX = new Uint8Array(256);
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c + 1;
for (let c = 0; c < 6; c++) {
  HEX[0x41 + c] = c + 11;
  HEX[0x61 + c] = c + 11;
}

/**
 * True when buf[start, start + lower.length) equals `lower` ignoring ASCII case. `lower` must
 * be lower-case letters, digits and "-"; the bytes compared are already known to be tokens,
 * and no token byte other than an upper-case letter changes under `| 0x20` into one of those.
 */
export function equalsLower(buf: Uint8Array, start: number, end: number, lower: string): boolean {
  const n = lower.length;
  if (end - start !== n) return false;
  for (let i = 0; i < n; i++) {
    if ((buf[start + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** True when buf[start, end) equals `lower` once its ASCII upper-case letters are lowered. */
export function equalsIgnoreAsciiCase(buf: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    let b = buf[start + i]!;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (b !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** True when a comma-separated header value lists `lowerToken` (ASCII case ignored). */
export function listHasToken(value: string, lowerToken: string): boolean {
  if (value.length < lowerToken.length) return false;
  const v = value.toLowerCase();
  let from = 0;
  while (from <= v.length) {
    let comma = v.indexOf(",", from);
    if (comma === -1) comma = v.length;
    let s = from;
    let e = comma;
    while (s < e && (v.charCodeAt(s) === SP || v.charCodeAt(s) === HTAB)) s++;
    while (e > s && (v.charCodeAt(e - 1) === SP || v.charCodeAt(e - 1) === HTAB)) e--;
    if (e - s === lowerToken.length && v.startsWith(lowerToken, s)) return true;
    from = comma + 1;
  }
  return false;
}

interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
const hasLatin1Slice = typeof (Buffer.prototype as unknown as Partial<Latin1Slicer>).latin1Slice === "function";

/**
 * Decodes buf[start, end) one byte per character. Buffer#latin1Slice is what toString("latin1")
 * calls after its argument checks; calling it directly saves those on the per-request path.
 */
export function latin1(buf: Buffer, start: number, end: number): string {
  return hasLatin1Slice
    ? (buf as unknown as Latin1Slicer).latin1Slice(start, end)
    : buf.toString("latin1", start, end);
}
