import { describe, expect, it } from "vitest";
import { answerFacts } from "../../../../src/datapath/dns/dns-answer.js";
import { parseMessage, QTYPE, RCODE, rcodeName, typeName } from "../../../../src/datapath/dns/dns-message.js";
import { encodeName, readName } from "../../../../src/datapath/dns/dns-name.js";
import { localReply, rejectRcode, withId } from "../../../../src/datapath/dns/dns-reply.js";
import { CAPTURES, hex } from "../../../fixtures/dns/dnsmasq-captures.js";

function parsed(h: string) {
  const r = parseMessage(hex(h));
  if (!r.ok) throw new Error(r.reason);
  return r.message;
}

describe("DNS messages from dig and dnsmasq", () => {
  it("reads dig's query: ID, RD, the first question and its type", () => {
    const m = parsed(CAPTURES.apiA.query);
    expect(m.header).toMatchObject({ id: 0x0e64, response: false, opcode: 0, recursionDesired: true, qdcount: 1, arcount: 1 });
    expect(m.question).toMatchObject({ name: "api.example.com.", type: QTYPE.A, class: 1 });
    expect(m.qtypes).toEqual([QTYPE.A]);
  });

  it("reads A and AAAA answers through name compression, with their TTLs", () => {
    const a = parsed(CAPTURES.apiA.answer);
    expect(a.header).toMatchObject({ response: true, authoritative: true, rcode: RCODE.NOERROR, ancount: 1 });
    expect(a.answers).toEqual([{ name: "api.example.com.", type: QTYPE.A, class: 1, ttl: 300, data: "192.0.2.10" }]);
    expect(parsed(CAPTURES.apiAAAA.answer).answers[0]).toMatchObject({ type: QTYPE.AAAA, data: "2001:db8::10", ttl: 300 });
  });

  it("follows a CNAME chain and keeps the lowest TTL (the CNAME's 120 vs the A's 60)", () => {
    const facts = answerFacts(parsed(CAPTURES.wwwCname.answer));
    expect(facts).toEqual({ qname: "www.example.com.", ips: ["198.51.100.7"], cnames: ["real.example.net."], ttl: 60 });
  });

  it("keeps the case a client sent, and answer facts lower-case it", () => {
    const m = parsed(CAPTURES.mixedCase.answer);
    expect(m.question?.name).toBe("API.Example.COM.");
    expect(answerFacts(m)).toMatchObject({ qname: "api.example.com.", ips: ["192.0.2.10"], ttl: 300 });
  });

  it("names rcodes and types as Hubble does", () => {
    expect(rcodeName(parsed(CAPTURES.evilRefused.answer).header.rcode)).toBe("REFUSED");
    expect(typeName(28)).toBe("AAAA");
    expect(typeName(99)).toBe("TYPE99");
    expect(rcodeName(9)).toBe("RCODE9");
  });
});

describe("answers the proxy writes", () => {
  it("REFUSED to dig's query: same ID, RD, QR, the question echoed, no records", () => {
    const q = parsed(CAPTURES.evilRefused.query);
    const reply = localReply(q.header, q.question, rejectRcode("refused"));
    // dnsmasq answered the same query with flags 0x8185 (QR, RD, RA, REFUSED) and an OPT
    // record; ours is 0x8105: RA clear and no OPT, as miekg's SetRcode gives Cilium.
    expect(reply.toString("hex")).toBe("19b881050001000000000000046576696c04746573740000010001");
    const back = parsed(reply.toString("hex"));
    expect(back.header).toMatchObject({ id: 0x19b8, response: true, rcode: RCODE.REFUSED, qdcount: 1, ancount: 0 });
    expect(back.question?.name).toBe("evil.test.");
  });

  it("NXDOMAIN with name-error, and SERVFAIL without a question when none parsed", () => {
    const q = parsed(CAPTURES.evilRefused.query);
    expect(parsed(localReply(q.header, q.question, rejectRcode("name-error")).toString("hex")).header.rcode).toBe(RCODE.NXDOMAIN);
    const sf = localReply(q.header, null, RCODE.SERVFAIL);
    expect(sf.toString("hex")).toBe("19b881020000000000000000");
  });

  it("rewrites only the ID", () => {
    const a = hex(CAPTURES.apiA.answer);
    const b = withId(a, 0xbeef);
    expect(b.readUInt16BE(0)).toBe(0xbeef);
    expect(b.subarray(2)).toEqual(a.subarray(2));
    expect(a.readUInt16BE(0)).toBe(0x0e64);
  });
});

describe("names", () => {
  it("refuses compression loops and forward pointers", () => {
    // Header, then a name that is a pointer to itself.
    const self = Buffer.from("0000010000010000000000000c000001", "hex");
    self.writeUInt16BE(0xc00c, 12);
    expect(readName(self, 12)).toBeNull();
    // Two pointers at each other: 12 -> 14 is forward, refused.
    const pair = Buffer.alloc(20);
    pair.writeUInt16BE(0xc00e, 12);
    pair.writeUInt16BE(0xc00c, 14);
    expect(readName(pair, 12)).toBeNull();
    expect(readName(pair, 14)).toBeNull();
  });

  it("refuses labels over 63 bytes, names over 255, and the extended label types", () => {
    const long = Buffer.concat([Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0])]);
    expect(readName(long, 0)).toBeNull();
    const parts: Buffer[] = [];
    for (let i = 0; i < 5; i++) parts.push(Buffer.from([63]), Buffer.alloc(63, 0x61));
    expect(readName(Buffer.concat([...parts, Buffer.from([0])]), 0)).toBeNull();
    expect(readName(Buffer.from([0x41, 0]), 0)).toBeNull();
  });

  it("escapes a dot inside a label so it cannot pass for two labels", () => {
    const name = Buffer.concat([Buffer.from([11]), Buffer.from("api.example"), Buffer.from([3]), Buffer.from("com"), Buffer.from([0])]);
    expect(readName(name, 0)?.text).toBe("api\\.example.com.");
    const odd = Buffer.from([2, 0x00, 0x20, 0]);
    expect(readName(odd, 0)?.text).toBe("\\000\\032.");
  });

  it("encodes names and reads them back", () => {
    expect(readName(encodeName("api.example.com"), 0)?.text).toBe("api.example.com.");
    expect(encodeName(".")).toEqual(Buffer.from([0]));
    expect(() => encodeName("a..b")).toThrow(RangeError);
  });
});
