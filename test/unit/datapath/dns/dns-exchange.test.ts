import { describe, expect, it } from "vitest";
import { readAnswer, readQuery, refusedReply, upstreamQuery } from "../../../../src/datapath/dns/dns-exchange.js";
import { parseMessage } from "../../../../src/datapath/dns/dns-message.js";
import { CAPTURES, hex } from "../../../fixtures/dns/dnsmasq-captures.js";

function query(h: string) {
  const r = readQuery(hex(h));
  if (r.kind !== "query") throw new Error(r.kind);
  return r.query;
}

describe("a DNS exchange through the proxy", () => {
  it("the first question's name, lower-cased, is what policy sees", () => {
    const q = query(CAPTURES.mixedCase.query);
    expect(q.qname).toBe("api.example.com.");
    expect(q.qtypes).toEqual(["A"]);
  });

  it("forwards under a fresh ID and answers under the client's, learning the chain's IPs", () => {
    const q = query(CAPTURES.wwwCname.query);
    const up = upstreamQuery(q, 0x4242);
    expect(up.readUInt16BE(0)).toBe(0x4242);
    const answer = Buffer.from(hex(CAPTURES.wwwCname.answer));
    answer.writeUInt16BE(0x4242, 0);
    const a = readAnswer(q, answer);
    expect(a).toMatchObject({ rcode: "NOERROR", ips: ["198.51.100.7"], ttl: 60, truncated: false, malformed: null });
    expect(a!.reply.readUInt16BE(0)).toBe(0xad7d);
  });

  it("ignores an answer to another question (it is not ours to give)", () => {
    const q = query(CAPTURES.apiA.query);
    expect(readAnswer(q, hex(CAPTURES.apiAAAA.answer))).toBeNull();
    expect(readAnswer(q, hex(CAPTURES.apiA.query))).toBeNull();
  });

  it("an unreadable answer becomes SERVFAIL, a truncated one passes as it is", () => {
    const q = query(CAPTURES.apiA.query);
    const broken = Buffer.from(hex(CAPTURES.apiA.answer)).subarray(0, 40);
    const a = readAnswer(q, broken);
    expect(a?.rcode).toBe("SERVFAIL");
    expect(a?.malformed).not.toBeNull();
    const tc = Buffer.from(broken);
    tc[2] = tc[2]! | 0x02;
    const t = readAnswer(q, tc);
    expect(t).toMatchObject({ truncated: true, malformed: null, ips: [] });
    expect(t!.reply.subarray(2)).toEqual(tc.subarray(2));
  });

  it("answers nothing to a response or to less than a header, SERVFAIL to other garbage", () => {
    expect(readQuery(hex(CAPTURES.apiA.answer)).kind).toBe("drop");
    expect(readQuery(Buffer.from([1, 2, 3])).kind).toBe("drop");
    const m = readQuery(Buffer.from("123401000001000000000000ff", "hex"));
    expect(m.kind).toBe("malformed");
    if (m.kind === "malformed") expect(m.reply.toString("hex")).toBe("123481020000000000000000");
  });

  it("REFUSED echoes the question", () => {
    const q = query(CAPTURES.evilRefused.query);
    const r = parseMessage(refusedReply(q, "refused"));
    expect(r.ok && r.message.question?.name).toBe("evil.test.");
    expect(r.ok && r.message.header.rcode).toBe(5);
  });
});
