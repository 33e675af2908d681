// CIDR and IP parsing with the rules the CRD `format: cidr` (Go net.ParseCIDR) and Cilium's
// CIDRRule sanitize apply: prefix notation required, no zones, except-CIDRs inside the allow CIDR.

import { isIPv4, isIPv6 } from "node:net";

export interface ParsedCidr {
  family: 4 | 6;
  /** The address as an unsigned integer (32 or 128 bits). */
  addr: bigint;
  bits: number;
}

export function parseIp(text: string): { family: 4 | 6; addr: bigint } | undefined {
  if (isIPv4(text)) {
    // node accepts only dotted quads with no leading zeros beyond "0", like Go.
    const parts = text.split(".").map(Number);
    return { family: 4, addr: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) };
  }
  if (text.includes("%") || !isIPv6(text)) return undefined;
  return { family: 6, addr: ipv6ToBigInt(text) };
}

function ipv6ToBigInt(text: string): bigint {
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(":");
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    const v4 = parseIp(maybeV4);
    tailV4 = v4?.addr ?? 0n;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = "", right] = head.split("::");
  const leftParts = left === "" ? [] : left.split(":");
  const rightParts = right === undefined || right === "" ? [] : right.split(":");
  const missing = 8 - leftParts.length - rightParts.length;
  const groups = [...leftParts, ...Array<string>(right === undefined ? 0 : missing).fill("0"), ...rightParts];
  let value = groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

/** Parses "a.b.c.d/n" or "x::y/n"; returns a reason string on failure. */
export function parseCidr(text: string): ParsedCidr | string {
  const slash = text.indexOf("/");
  if (slash < 0) return `invalid CIDR ${JSON.stringify(text)}: a prefix length is required (e.g. ${text}/32)`;
  const ip = parseIp(text.slice(0, slash));
  if (ip === undefined) return `invalid CIDR ${JSON.stringify(text)}: not an IP address`;
  const lenText = text.slice(slash + 1);
  const max = ip.family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
    return `invalid CIDR ${JSON.stringify(text)}: prefix length must be 0..${max}`;
  }
  return { family: ip.family, addr: ip.addr, bits: Number(lenText) };
}

export function cidrContains(outer: ParsedCidr, addr: { family: 4 | 6; addr: bigint }): boolean {
  if (outer.family !== addr.family) return false;
  const width = outer.family === 4 ? 32 : 128;
  const shift = BigInt(width - outer.bits);
  return outer.addr >> shift === addr.addr >> shift;
}
