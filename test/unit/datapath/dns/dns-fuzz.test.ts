// Random and mutated packets: the codec must return a result (ok or a reason) for any bytes,
// never throw, never loop, and never report a name longer than DNS allows.
import { describe, expect, it } from "vitest";
import { answerFacts } from "../../../../src/datapath/dns/dns-answer.js";
import { parseMessage } from "../../../../src/datapath/dns/dns-message.js";
import { localReply } from "../../../../src/datapath/dns/dns-reply.js";
import { CAPTURES, hex } from "../../../fixtures/dns/dnsmasq-captures.js";
import { prng } from "../../../support/prng.js";

function check(bytes: Buffer): boolean {
  const r = parseMessage(bytes);
  if (!r.ok) {
    expect(typeof r.reason).toBe("string");
    if (r.header !== null) expect(localReply(r.header, null, 2).length).toBe(12);
    return false;
  }
  const m = r.message;
  for (const rr of m.answers) expect(rr.name.length).toBeLessThanOrEqual(4 * 255);
  if (m.question !== null) {
    expect(m.question.raw.length).toBeGreaterThan(4);
    expect(localReply(m.header, m.question, 5).length).toBe(12 + m.question.raw.length);
  }
  answerFacts(m);
  return true;
}

describe("DNS codec fuzz", () => {
  const seeds = Object.values(CAPTURES).flatMap((c) => [hex(c.query), hex(c.answer)]);

  it("mutated captures (bit flips, byte sets, truncation, splices) never throw", () => {
    const rand = prng(0xd15);
    let ok = 0;
    for (let i = 0; i < 20000; i++) {
      const base = Buffer.from(seeds[i % seeds.length]!);
      let b = base;
      const edits = 1 + Math.floor(rand() * 4);
      for (let e = 0; e < edits; e++) {
        const kind = Math.floor(rand() * 4);
        const at = Math.floor(rand() * b.length);
        if (kind === 0) b[at] = b[at]! ^ (1 << Math.floor(rand() * 8));
        else if (kind === 1) b[at] = Math.floor(rand() * 256);
        else if (kind === 2) b = b.subarray(0, at);
        else b = Buffer.concat([b.subarray(0, at), Buffer.from([0xc0, Math.floor(rand() * 256)]), b.subarray(at)]);
      }
      if (check(b)) ok++;
    }
    // Not all mutations break a message: the parser must still accept the harmless ones.
    expect(ok).toBeGreaterThan(1000);
  });

  it("random bytes never throw", () => {
    const rand = prng(77);
    for (let i = 0; i < 20000; i++) {
      const b = Buffer.alloc(Math.floor(rand() * 600));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(rand() * 256);
      // Plausible counts make the parser walk further into the random bytes.
      if (b.length >= 12 && rand() < 0.5) b.writeUInt32BE(0x00010003, 4);
      check(b);
    }
  });

  it("a message of maximum record count but few bytes ends at its end", () => {
    const b = Buffer.from(hex(CAPTURES.apiA.answer));
    b.writeUInt16BE(0xffff, 6);
    const r = parseMessage(b);
    expect(r.ok).toBe(false);
  });
});
