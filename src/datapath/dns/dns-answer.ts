// What a DNS answer teaches about its question name, as Cilium's ExtractMsgDetails reads it:
// the answer section is walked in order from the question name; a CNAME whose owner is the
// current name moves the chain to its target; A and AAAA records whose owner is the current
// name give the IPs. Records whose owner is not on the chain are ignored, so an answer can
// only ever teach addresses for the name that was asked (never for a name it merely lists).
// The TTL is the lowest of every A, AAAA and CNAME record used ("the chain is collapsed,
// keeping the lowest TTL").

import { type DnsMessage, QTYPE } from "./dns-message.js";

export interface AnswerFacts {
  /** The question name, lower case, fully qualified. */
  qname: string;
  /** Addresses from the chain, in answer order, without duplicates. */
  ips: string[];
  /** CNAME targets followed, lower case, in order. */
  cnames: string[];
  /** Lowest TTL in the chain, or null when no record of the chain was used. */
  ttl: number | null;
}

export function answerFacts(message: DnsMessage): AnswerFacts | null {
  if (message.question === null) return null;
  const qname = message.question.name.toLowerCase();
  let current = qname;
  const ips: string[] = [];
  const cnames: string[] = [];
  let ttl: number | null = null;
  for (const rr of message.answers) {
    if (rr.data === null || rr.name.toLowerCase() !== current) continue;
    if (rr.type === QTYPE.CNAME) {
      current = rr.data.toLowerCase();
      cnames.push(current);
    } else if (rr.type === QTYPE.A || rr.type === QTYPE.AAAA) {
      if (!ips.includes(rr.data)) ips.push(rr.data);
    } else continue;
    ttl = ttl === null ? rr.ttl : Math.min(ttl, rr.ttl);
  }
  return { qname, ips, cnames, ttl };
}
