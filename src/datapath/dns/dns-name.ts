// Domain names on the wire (RFC 1035 §3.1, §4.1.4): a sequence of length-prefixed labels
// ending with the root label, where a two-byte pointer may replace the rest of a name.
//
// Everything an attacker controls is bounded here: a pointer must point strictly before the
// label sequence that contains it (so no loop can form, whatever the bytes), the decoded name
// is at most 255 octets on the wire, labels at most 63, and the 0x40/0x80 label types
// (extended, deprecated) are refused.
//
// Text form: labels joined with ".", with a trailing "." (the root alone is "."). Bytes that
// are not plain DNS name characters are escaped as miekg/dns (Cilium's parser) does: `\.` for
// a dot inside a label, `\\`, `\DDD` for unprintable bytes. An escaped name never matches a
// policy pattern (patterns allow only letters, digits, `-`, `_` and `*`), so a label such as
// "api.example" cannot pass for the two labels "api" and "example".

export const MAX_NAME_OCTETS = 255;
const MAX_LABEL = 63;

export interface DecodedName {
  /** Presentation form, fully qualified, case kept as sent. */
  text: string;
  /** Offset just after the name's bytes at its original position (pointers included). */
  end: number;
}

/** Reads a name at `offset`, or returns null when it is malformed or runs past the end. */
export function readName(msg: Uint8Array, offset: number): DecodedName | null {
  let pos = offset;
  let end = -1;
  // The lowest offset this name has started a label sequence at: a pointer must go below it.
  let floor = offset;
  let octets = 1;
  let text = "";
  for (;;) {
    if (pos >= msg.length) return null;
    const len = msg[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= msg.length) return null;
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (target >= floor) return null;
      if (end < 0) end = pos + 2;
      floor = target;
      pos = target;
      continue;
    }
    if (kind !== 0 || len > MAX_LABEL) return null;
    if (pos + 1 + len > msg.length) return null;
    octets += len + 1;
    if (octets > MAX_NAME_OCTETS) return null;
    text += labelText(msg, pos + 1, len) + ".";
    pos += 1 + len;
  }
  return { text: text === "" ? "." : text, end };
}

/** Skips a name without decoding it (for records whose owner we do not need). */
export function skipName(msg: Uint8Array, offset: number): number {
  const decoded = readName(msg, offset);
  return decoded === null ? -1 : decoded.end;
}

function labelText(msg: Uint8Array, start: number, len: number): string {
  let out = "";
  for (let i = start; i < start + len; i++) {
    const b = msg[i]!;
    if (b === 0x2e || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b < 0x21 || b > 0x7e) out += `\\${String(b).padStart(3, "0")}`;
    else out += String.fromCharCode(b);
  }
  return out;
}

/**
 * Encodes a presentation-form name (no escapes: the names we write are the ones a policy or a
 * test gives, in plain DNS characters). Throws on an empty label, or a label or name too long.
 */
export function encodeName(name: string): Buffer {
  if (name === "." || name === "") return Buffer.from([0]);
  const labels = (name.endsWith(".") ? name.slice(0, -1) : name).split(".");
  const parts: Buffer[] = [];
  let total = 1;
  for (const label of labels) {
    const bytes = Buffer.from(label, "latin1");
    if (bytes.length === 0 || bytes.length > MAX_LABEL) throw new RangeError(`bad label in DNS name "${name}"`);
    total += bytes.length + 1;
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  if (total > MAX_NAME_OCTETS) throw new RangeError(`DNS name "${name}" is longer than 255 octets`);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}
