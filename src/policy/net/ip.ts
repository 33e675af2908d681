// IP addresses and CIDR ranges as numbers, so that the hot path compares integers instead of
// strings. IPv4 is a uint32 in a JS number; IPv6 is a bigint. This is l7proxy's one parser
// for addresses and prefixes: policies (validation and compilation), the endpoint inventory,
// the kernel rules and the data path all read addresses here, so they cannot disagree.
//
// The rules (docs/semantics.md, "Addresses and CIDRs"):
// - addresses are what Node's isIPv4/isIPv6 accept (dotted quads without leading zeros, the
//   same as Go's parser), except that IPv6 zones ("fe80::1%eth0") are refused: Go's
//   net.ParseCIDR refuses them in policies, and no endpoint or peer address carries one;
// - IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, as Node reports IPv4 peers on dual-stack
//   sockets) are IPv4, because the kernel and the endpoint inventory know those peers by their
//   IPv4 address; a prefix inside ::ffff:0:0/96 is likewise the IPv4 prefix it covers
//   (::ffff:10.0.0.0/104 is 10.0.0.0/8), so a mapped prefix matches the addresses it names;
// - a CIDR needs its prefix length (0-32 or 0-128, decimal), as net.ParseCIDR does; host bits
//   are allowed and cleared (10.1.2.3/16 is 10.1.0.0/16).

import { isIPv4, isIPv6 } from "node:net";

export type ParsedIp = { family: 4; value: number } | { family: 6; value: bigint };

export interface CidrRange {
  family: 4 | 6;
  /** Inclusive bounds; number for IPv4, bigint for IPv6. */
  start: number | bigint;
  end: number | bigint;
  /** Prefix length (of the IPv4 prefix, for an IPv4-mapped one). */
  bits: number;
  text: string;
}

function parseV4(s: string): number {
  const parts = s.split(".");
  let v = 0;
  for (const p of parts) v = v * 256 + Number(p);
  return v;
}

function parseV6(s: string): bigint {
  let text = s;
  // A trailing dotted quad carries the last 32 bits: rewrite it as two hex groups.
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (last.includes(".")) {
    const v4 = parseV4(last);
    text = `${text.slice(0, lastColon + 1)}${((v4 >>> 16) & 0xffff).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const double = text.indexOf("::");
  const toGroups = (t: string): number[] => (t === "" ? [] : t.split(":").map((h) => parseInt(h, 16)));
  let groups: number[];
  if (double < 0) groups = toGroups(text);
  else {
    const head = toGroups(text.slice(0, double));
    const tail = toGroups(text.slice(double + 2));
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  return v;
}

const V4_MAPPED_PREFIX = 0xffffn << 32n;
const LOW_32 = 0xffffffffn;

/** IPv6 text as Node accepts it, without a zone. */
function isIPv6NoZone(text: string): boolean {
  return !text.includes("%") && isIPv6(text);
}

/** Parses an IPv4 or IPv6 address; undefined when the text is not an address. */
export function parseIp(text: string): ParsedIp | undefined {
  if (isIPv4(text)) return { family: 4, value: parseV4(text) };
  if (isIPv6NoZone(text)) {
    const v = parseV6(text);
    if ((v & ~LOW_32) === V4_MAPPED_PREFIX) return { family: 4, value: Number(v & LOW_32) };
    return { family: 6, value: v };
  }
  return undefined;
}

/** The canonical text of an address (IPv4 dotted quad, IPv6 compressed lower case), for map keys. */
export function canonicalIp(text: string): string | undefined {
  const p = parseIp(text);
  if (p === undefined) return undefined;
  if (p.family === 4) return formatV4(p.value);
  return formatV6(p.value);
}

function formatV4(v: number): string {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
}

function formatV6(v: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  // Compress the longest run of zero groups (length >= 2), as RFC 5952 asks.
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

/** The canonical text of an address given as a number (IPv4) or bigint. */
export function formatIp(family: 4 | 6, value: number | bigint): string {
  return family === 4 ? formatV4(Number(value)) : formatV6(BigInt(value));
}

/** Parses "a.b.c.d/n" or "x::y/n"; undefined when invalid. */
export function parseCidr(text: string): CidrRange | undefined {
  const r = checkCidr(text);
  return typeof r === "string" ? undefined : r;
}

/** Parses "a.b.c.d/n" or "x::y/n"; a sentence saying what is wrong when invalid. */
export function checkCidr(text: string): CidrRange | string {
  const quoted = JSON.stringify(text);
  const slash = text.indexOf("/");
  if (slash < 0) return `invalid CIDR ${quoted}: a prefix length is required (e.g. ${text}/${isIPv6NoZone(text) ? 128 : 32})`;
  const addr = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  let family: 4 | 6;
  let value: bigint;
  if (isIPv4(addr)) {
    family = 4;
    value = BigInt(parseV4(addr));
  } else if (isIPv6NoZone(addr)) {
    family = 6;
    value = parseV6(addr);
  } else {
    return `invalid CIDR ${quoted}: ${addr.includes("%") ? "an IPv6 zone is not allowed" : "not an IP address"}`;
  }
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) return `invalid CIDR ${quoted}: prefix length must be 0..${max}`;
  let bits = Number(lenText);
  if (family === 6 && bits >= 96 && (value & ~LOW_32) === V4_MAPPED_PREFIX) {
    family = 4;
    value &= LOW_32;
    bits -= 96;
  }
  const hostBits = BigInt((family === 4 ? 32 : 128) - bits);
  const start = (value >> hostBits) << hostBits;
  const end = start + (1n << hostBits) - 1n;
  return family === 4 ? { family, start: Number(start), end: Number(end), bits, text } : { family, start, end, bits, text };
}

/** The one-address range of an address (/32 or /128; IPv4 for an IPv4-mapped one). */
export function hostRange(text: string): CidrRange | undefined {
  const p = parseIp(text);
  if (p === undefined) return undefined;
  return p.family === 4 ? { family: 4, start: p.value, end: p.value, bits: 32, text } : { family: 6, start: p.value, end: p.value, bits: 128, text };
}

export function cidrContains(range: CidrRange, ip: ParsedIp): boolean {
  if (range.family !== ip.family) return false;
  return ip.value >= range.start && ip.value <= range.end;
}

/** Whether every address of `inner` is in `outer`. */
export function cidrCovers(outer: CidrRange, inner: CidrRange): boolean {
  return outer.family === inner.family && inner.start >= outer.start && inner.end <= outer.end;
}
