// Answers the proxy writes itself, and the one change it makes to messages it forwards.
//
// A local answer is what miekg/dns's SetRcode(request, rcode) gives Cilium's proxy: the
// query's ID, opcode, RD and CD, QR set, the first question echoed (and only it), no records.
// REFUSED for a name the policy denies (or NXDOMAIN with --dns-reject-response-code
// name-error), SERVFAIL for everything else that went wrong.

import { HEADER_BYTES, type DnsHeader, type DnsQuestion, RCODE } from "./dns-message.js";

export type RejectCode = "refused" | "name-error";

export function rejectRcode(code: RejectCode): number {
  return code === "name-error" ? RCODE.NXDOMAIN : RCODE.REFUSED;
}

/** A reply with `rcode` to a query whose header (and, when it parsed, first question) is known. */
export function localReply(header: DnsHeader, question: DnsQuestion | null, rcode: number): Buffer {
  const q = question?.raw ?? new Uint8Array(0);
  const out = Buffer.alloc(HEADER_BYTES + q.length);
  out.writeUInt16BE(header.id, 0);
  let flags = 0x8000 | ((header.opcode & 0xf) << 11) | (rcode & 0xf);
  if (header.recursionDesired) flags |= 0x0100;
  if (header.checkingDisabled) flags |= 0x0010;
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(question === null ? 0 : 1, 4);
  out.set(q, HEADER_BYTES);
  return out;
}

/** A copy of `msg` carrying `id` (the query ID the upstream sees, or the client's in its answer). */
export function withId(msg: Uint8Array, id: number): Buffer {
  const out = Buffer.from(msg);
  out.writeUInt16BE(id & 0xffff, 0);
  return out;
}
