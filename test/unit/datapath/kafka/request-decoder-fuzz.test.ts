// Random and mutated frames: the decoder never throws, never takes more or fewer bytes than
// the frame's size prefix says, takes nothing without a whole frame, and what it accepts
// holds no more values than the frame has bytes.
import { describe, expect, it } from "vitest";
import { encodeRequest } from "../../../../src/datapath/kafka/frames.js";
import type { KafkaValue } from "../../../../src/datapath/kafka/message-reader.js";
import { decodeRequest } from "../../../../src/datapath/kafka/request-decoder.js";
import { requestLayout } from "../../../../src/datapath/kafka/spec/layout.js";
import { allRequestVersions, sampleStruct } from "../../../support/kafka-samples.js";
import { prng } from "../../../support/prng.js";

const LIMIT = 4096;

function countValues(v: KafkaValue): number {
  if (Array.isArray(v)) return 1 + v.reduce<number>((n, x) => n + countValues(x), 0);
  if (v !== null && typeof v === "object" && !Buffer.isBuffer(v)) return 1 + Object.values(v).reduce<number>((n, x) => n + countValues(x), 0);
  return 1;
}

function check(buf: Buffer): void {
  let r: ReturnType<typeof decodeRequest>;
  try {
    r = decodeRequest(buf, 0, LIMIT);
  } catch (err) {
    throw new Error(`threw on ${buf.toString("hex")}: ${String(err)}`);
  }
  if (buf.length < 4) {
    expect(r.kind).toBe("more");
    return;
  }
  const size = buf.readInt32BE(0);
  if (size < 0 || size > LIMIT) {
    expect(r).toMatchObject({ kind: "refused", reason: "frame-too-large" });
    return;
  }
  if (buf.length < 4 + size) {
    expect(r).toEqual({ kind: "more", need: 4 + size - buf.length });
    return;
  }
  expect(r.kind).not.toBe("more");
  if (r.kind === "request") {
    expect(r.end).toBe(4 + size);
    expect(r.request.frame.length).toBe(4 + size);
    // Every value read took at least one byte of the frame... except structs and arrays of
    // nothing: bounded by twice the bytes.
    expect(countValues(r.request.body)).toBeLessThanOrEqual(2 * (size + 1));
  }
}

describe("Kafka request decoder fuzz", () => {
  it("survives 20,000 random frames", () => {
    const rand = prng(1313);
    const versions = allRequestVersions();
    for (let i = 0; i < 20_000; i++) {
      const n = Math.floor(rand() * 64);
      const body = Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
      const pick = versions[Math.floor(rand() * versions.length)]!;
      // Mostly valid headers, so the body decoders are reached.
      if (n >= 4 && rand() < 0.8) {
        body.writeInt16BE(pick.apiKey, 0);
        body.writeInt16BE(pick.version, 2);
      }
      const frame = Buffer.concat([Buffer.alloc(4), body]);
      frame.writeInt32BE(rand() < 0.9 ? n : Math.floor(rand() * 2 ** 32) - 2 ** 31, 0);
      check(frame);
    }
  });

  it("survives every API and version with bytes flipped, cut, inserted and lengths inflated", () => {
    const rand = prng(2626);
    for (const { apiKey, version } of allRequestVersions()) {
      const layout = requestLayout(apiKey, version)!;
      for (let i = 0; i < 15; i++) {
        const good = encodeRequest(apiKey, version, i, "c", sampleStruct(layout.body, rand, []));
        check(good);
        const m = Buffer.from(good);
        const op = Math.floor(rand() * 4);
        const at = 4 + Math.floor(rand() * (m.length - 4));
        if (op === 0) m[at] = Math.floor(rand() * 256);
        if (op === 1) m.writeInt32BE(m.length - 4 - Math.floor(rand() * 3), 0);
        if (op === 2 && at + 4 <= m.length) m.writeInt32BE(Math.floor(rand() * 2 ** 31), at);
        const mutated = op === 3 ? Buffer.concat([m.subarray(0, at), Buffer.from([Math.floor(rand() * 256)]), m.subarray(at)]) : m;
        if (op === 3) mutated.writeInt32BE(mutated.length - 4, 0);
        check(mutated);
        check(mutated.subarray(0, Math.floor(rand() * mutated.length)));
      }
    }
  });
});
