// IP addresses and CIDR ranges as numbers, so that the hot path compares integers instead of
// strings. IPv4 is a uint32 in a JS number; IPv6 is a bigint. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d, as Node reports IPv4 peers on dual-stack sockets) are treated as IPv4,
// because the kernel and the endpoint inventory know those peers by their IPv4 address.

import { isIPv4, isIPv6 } from "node:net";

export type ParsedIp = { family: 4; value: number } | { family: 6; value: bigint };

export interface CidrRange {
  family: 4 | 6;
  /** Inclusive bounds; number for IPv4, bigint for IPv6. */
  start: number | bigint;
  end: number | bigint;
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
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
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

/** Parses an IPv4 or IPv6 address; undefined when the text is not an address. */
export function parseIp(text: string): ParsedIp | undefined {
  if (isIPv4(text)) return { family: 4, value: parseV4(text) };
  if (isIPv6(text)) {
    const v = parseV6(text);
    if (v >> 32n === 0xffffn && (v & ~0xffffffffn) === V4_MAPPED_PREFIX) return { family: 4, value: Number(v & 0xffffffffn) };
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

/** Parses "a.b.c.d/n", "x::/n", or a bare address (a host route). Undefined when invalid. */
export function parseCidr(text: string): CidrRange | undefined {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? undefined : text.slice(slash + 1);
  if (lenText !== undefined && !/^\d{1,3}$/.test(lenText)) return undefined;
  if (isIPv4(addr)) {
    const len = lenText === undefined ? 32 : Number(lenText);
    if (len > 32) return undefined;
    const v = parseV4(addr);
    const size = 2 ** (32 - len);
    const start = Math.floor(v / size) * size;
    return { family: 4, start, end: start + size - 1, text };
  }
  if (isIPv6(addr)) {
    const len = lenText === undefined ? 128 : Number(lenText);
    if (len > 128) return undefined;
    const v = parseV6(addr);
    const hostBits = BigInt(128 - len);
    const start = (v >> hostBits) << hostBits;
    return { family: 6, start, end: start + (1n << hostBits) - 1n, text };
  }
  return undefined;
}

export function cidrContains(range: CidrRange, ip: ParsedIp): boolean {
  if (range.family !== ip.family) return false;
  return ip.value >= range.start && ip.value <= range.end;
}
