// One DNS query and its answer, whatever the transport: what Cilium's DNS proxy does with it.
//
//   query bytes -> parse -> first question's name -> policy (decide) ->
//     denied: REFUSED (or NXDOMAIN) | malformed: SERVFAIL (or dropped) | allowed: forward
//   answer bytes -> the same question? -> learn A/AAAA (CNAME chain) -> client's ID back
//
// Pure: no sockets, no clocks. The UDP proxy and the TCP handler drive it.

import { answerFacts } from "./dns-answer.js";
import { type DnsHeader, type DnsMessage, type DnsQuestion, parseMessage, RCODE, rcodeName, typeName } from "./dns-message.js";
import { localReply, rejectRcode, type RejectCode, withId } from "./dns-reply.js";

export interface ParsedQuery {
  header: DnsHeader;
  question: DnsQuestion;
  /** Lower case, fully qualified: what policy matches. */
  qname: string;
  qtypes: string[];
  bytes: Buffer;
}

export type QueryOutcome =
  /** Not a query at all (too short, or a response): nothing is sent back. */
  | { kind: "drop"; reason: string }
  /** A query the proxy cannot read: SERVFAIL, never forwarded. */
  | { kind: "malformed"; reply: Buffer; reason: string }
  | { kind: "query"; query: ParsedQuery };

/** Reads a client's query. */
export function readQuery(bytes: Buffer): QueryOutcome {
  const r = parseMessage(bytes, { answers: false });
  const header = r.ok ? r.message.header : r.header;
  if (header === null) return { kind: "drop", reason: "shorter than a DNS header" };
  // Answering a response would let two proxies (or a spoofed source) ping-pong forever.
  if (header.response) return { kind: "drop", reason: "a response where a query was expected" };
  if (!r.ok) return { kind: "malformed", reply: localReply(header, null, RCODE.SERVFAIL), reason: r.reason };
  const question = r.message.question;
  if (question === null) return { kind: "malformed", reply: localReply(header, null, RCODE.SERVFAIL), reason: "no question" };
  if (header.opcode !== 0) {
    // Policy names names; an UPDATE or NOTIFY is not a lookup it can decide.
    return { kind: "malformed", reply: localReply(header, question, RCODE.SERVFAIL), reason: `opcode ${header.opcode}` };
  }
  return {
    kind: "query",
    query: { header, question, qname: question.name.toLowerCase(), qtypes: r.message.qtypes.map(typeName), bytes },
  };
}

export function refusedReply(query: ParsedQuery, code: RejectCode): Buffer {
  return localReply(query.header, query.question, rejectRcode(code));
}

export function servfailReply(query: ParsedQuery): Buffer {
  return localReply(query.header, query.question, RCODE.SERVFAIL);
}

/** The query as forwarded: the same bytes under the proxy's own ID. */
export function upstreamQuery(query: ParsedQuery, upstreamId: number): Buffer {
  return withId(query.bytes, upstreamId);
}

export interface AnswerOutcome {
  /** What the client gets: the answer under its own ID (or SERVFAIL). */
  reply: Buffer;
  rcode: string;
  /** Addresses to learn for query.qname (empty when none, or when the answer is not NOERROR). */
  ips: string[];
  ttl: number | null;
  truncated: boolean;
  /** Set when the upstream's answer was unreadable and SERVFAIL replaced it. */
  malformed: string | null;
}

/**
 * Reads the upstream's answer to `query`. Returns null when it answers another question (a
 * stray or spoofed datagram): the caller keeps waiting for the real one.
 */
export function readAnswer(query: ParsedQuery, bytes: Buffer): AnswerOutcome | null {
  const r = parseMessage(bytes);
  if (!r.ok) {
    const h = r.header;
    if (h === null || !h.response) return null;
    // A truncated UDP answer goes back as it is: the client retries over TCP.
    if (h.truncated) return { reply: withId(bytes, query.header.id), rcode: rcodeName(h.rcode), ips: [], ttl: null, truncated: true, malformed: null };
    return { reply: servfailReply(query), rcode: "SERVFAIL", ips: [], ttl: null, truncated: false, malformed: r.reason };
  }
  const m = r.message;
  if (!m.header.response || !sameQuestion(query.question, m)) return null;
  const facts = m.header.rcode === RCODE.NOERROR ? answerFacts(m) : null;
  return {
    reply: withId(bytes, query.header.id),
    rcode: rcodeName(m.header.rcode),
    ips: facts?.ips ?? [],
    ttl: facts?.ttl ?? null,
    truncated: m.header.truncated,
    malformed: null,
  };
}

function sameQuestion(q: DnsQuestion, m: DnsMessage): boolean {
  const a = m.question;
  // Names compare without case: resolvers may echo them in another case (0x20 randomisation).
  return a !== null && a.type === q.type && a.class === q.class && a.name.toLowerCase() === q.name.toLowerCase();
}
