// DNS messages (RFC 1035 §4.1), bytes in, plain facts out: the header, the first question,
// and the answer section's A, AAAA and CNAME records. Pure and bounded: every read is checked
// against the message length, record counts cannot make it loop past the bytes it was given,
// and a malformed message is a result (with the reason), never an exception.
//
// Only the first question counts, as in Cilium's DNS proxy (msg.Question[0]); the others are
// parsed past (so a response's answer section can be found) but not reported.

import { readName } from "./dns-name.js";

export const HEADER_BYTES = 12;
/** A DNS message carried over TCP is at most this long (the two-byte length prefix). */
export const MAX_MESSAGE_BYTES = 65535;

export const QTYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, HTTPS: 65, ANY: 255 } as const;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(QTYPE).map(([k, v]) => [v, k]));
const RCODE_NAMES = new Map<number, string>(Object.entries(RCODE).map(([k, v]) => [v, k]));

/** "A", "AAAA", ... or "TYPE<n>" (RFC 3597) for types without a mnemonic here. */
export function typeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** "NOERROR", "REFUSED", ... or "RCODE<n>". */
export function rcodeName(rcode: number): string {
  return RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`;
}

export interface DnsHeader {
  id: number;
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  recursionDesired: boolean;
  recursionAvailable: boolean;
  checkingDisabled: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface DnsQuestion {
  /** As sent (case kept), fully qualified, escaped as in dns-name.ts. */
  name: string;
  type: number;
  class: number;
  /** The question's bytes (name as encoded, type, class), to echo it in a local answer. */
  raw: Uint8Array;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** A / AAAA: the address; CNAME: the target name; other types: null. */
  data: string | null;
}

export interface DnsMessage {
  header: DnsHeader;
  /** The first question, or null when the message has none. */
  question: DnsQuestion | null;
  /** The type of every question (Hubble's `qtypes`), in order. */
  qtypes: number[];
  answers: DnsRecord[];
}

export type ParseResult = { ok: true; message: DnsMessage } | { ok: false; reason: string; header: DnsHeader | null };

export function readHeader(msg: Uint8Array): DnsHeader | null {
  if (msg.length < HEADER_BYTES) return null;
  const flags = (msg[2]! << 8) | msg[3]!;
  return {
    id: (msg[0]! << 8) | msg[1]!,
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    recursionDesired: (flags & 0x0100) !== 0,
    recursionAvailable: (flags & 0x0080) !== 0,
    checkingDisabled: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
    qdcount: u16(msg, 4),
    ancount: u16(msg, 6),
    nscount: u16(msg, 8),
    arcount: u16(msg, 10),
  };
}

function u16(msg: Uint8Array, at: number): number {
  return (msg[at]! << 8) | msg[at + 1]!;
}

function u32(msg: Uint8Array, at: number): number {
  return ((msg[at]! << 24) >>> 0) + ((msg[at + 1]! << 16) | (msg[at + 2]! << 8) | msg[at + 3]!);
}

/**
 * Parses a message. `answers: false` stops after the questions (a query needs nothing more).
 * Records in the answer section are decoded; authority and additional sections are not read.
 */
export function parseMessage(msg: Uint8Array, options: { answers: boolean } = { answers: true }): ParseResult {
  const header = readHeader(msg);
  if (header === null) return { ok: false, reason: "shorter than a DNS header", header: null };
  if (msg.length > MAX_MESSAGE_BYTES) return { ok: false, reason: "longer than 65535 bytes", header };
  let pos = HEADER_BYTES;
  let question: DnsQuestion | null = null;
  const qtypes: number[] = [];
  for (let i = 0; i < header.qdcount; i++) {
    const name = readName(msg, pos);
    if (name === null) return { ok: false, reason: `question ${i + 1}: malformed name`, header };
    if (name.end + 4 > msg.length) return { ok: false, reason: `question ${i + 1}: truncated`, header };
    const type = u16(msg, name.end);
    qtypes.push(type);
    if (i === 0) question = { name: name.text, type, class: u16(msg, name.end + 2), raw: msg.subarray(pos, name.end + 4) };
    pos = name.end + 4;
  }
  const answers: DnsRecord[] = [];
  if (options.answers) {
    for (let i = 0; i < header.ancount; i++) {
      const rr = readRecord(msg, pos);
      if (typeof rr === "string") return { ok: false, reason: `answer ${i + 1}: ${rr}`, header };
      answers.push(rr.record);
      pos = rr.end;
    }
  }
  return { ok: true, message: { header, question, qtypes, answers } };
}

function readRecord(msg: Uint8Array, pos: number): { record: DnsRecord; end: number } | string {
  const owner = readName(msg, pos);
  if (owner === null) return "malformed owner name";
  const at = owner.end;
  if (at + 10 > msg.length) return "truncated record header";
  const type = u16(msg, at);
  const klass = u16(msg, at + 2);
  const ttl = u32(msg, at + 4);
  const rdlength = u16(msg, at + 8);
  const rdata = at + 10;
  const end = rdata + rdlength;
  if (end > msg.length) return "record data runs past the message";
  let data: string | null = null;
  if (type === QTYPE.A) {
    if (rdlength !== 4) return "A record data is not 4 bytes";
    data = `${msg[rdata]}.${msg[rdata + 1]}.${msg[rdata + 2]}.${msg[rdata + 3]}`;
  } else if (type === QTYPE.AAAA) {
    if (rdlength !== 16) return "AAAA record data is not 16 bytes";
    data = ipv6Text(msg.subarray(rdata, end));
  } else if (type === QTYPE.CNAME) {
    const target = readName(msg, rdata);
    if (target === null || target.end !== end) return "malformed CNAME target";
    data = target.text;
  }
  // RFC 2181 §8: a TTL with the top bit set is treated as zero.
  return { record: { name: owner.text, type, class: klass, ttl: ttl > 0x7fffffff ? 0 : ttl, data }, end };
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups shortened to "::". */
function ipv6Text(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}
