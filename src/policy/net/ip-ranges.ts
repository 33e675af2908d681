// Sets of addresses as sorted, disjoint ranges, and back to CIDRs: how a CIDR peer with
// `except` entries becomes the plain prefixes a kernel set can hold. Both families use
// bigint here; these sets are built off the hot path (when rules are rendered).

import type { CidrRange } from "./ip.js";
import { formatIp } from "./ip.js";

export interface AddressRange {
  family: 4 | 6;
  start: bigint;
  end: bigint;
}

const LAST: Record<4 | 6, bigint> = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n };

/** Every address of a family. */
export function fullRange(family: 4 | 6): AddressRange {
  return { family, start: 0n, end: LAST[family] };
}

export function cidrToRange(c: CidrRange): AddressRange {
  return { family: c.family, start: BigInt(c.start), end: BigInt(c.end) };
}

/** Sorted by family then start, overlapping and adjacent ranges merged. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => a.family - b.family || (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const out: AddressRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.family === r.family && r.start <= last.end + 1n) {
      if (r.end > last.end) last.end = r.end;
    } else out.push({ ...r });
  }
  return out;
}

/** `from` minus `minus`, merged. */
export function subtractRanges(from: readonly AddressRange[], minus: readonly AddressRange[]): AddressRange[] {
  const cut = mergeRanges(minus);
  const out: AddressRange[] = [];
  for (const r of mergeRanges(from)) {
    let start = r.start;
    for (const m of cut) {
      if (m.family !== r.family || m.end < start || m.start > r.end) continue;
      if (m.start > start) out.push({ family: r.family, start, end: m.start - 1n });
      start = m.end + 1n;
      if (start > r.end) break;
    }
    if (start <= r.end) out.push({ family: r.family, start, end: r.end });
  }
  return out;
}

/** The fewest CIDR prefixes covering exactly this range ("a.b.c.d/n", "x::/n"). */
export function rangeToCidrs(r: AddressRange): string[] {
  const bits = r.family === 4 ? 32n : 128n;
  const out: string[] = [];
  let start = r.start;
  while (start <= r.end) {
    // The largest block aligned at `start` that does not run past the end.
    let size = 0n;
    while (size < bits && (start & ((1n << (size + 1n)) - 1n)) === 0n && start + (1n << (size + 1n)) - 1n <= r.end) size++;
    out.push(`${formatIp(r.family, start)}/${bits - size}`);
    start += 1n << size;
  }
  return out;
}
