import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { encodeRequest } from "../../../../src/datapath/kafka/frames.js";
import type { KafkaStruct } from "../../../../src/datapath/kafka/message-reader.js";
import { decodeRequest, type KafkaRequest } from "../../../../src/datapath/kafka/request-decoder.js";
import { requestLayout } from "../../../../src/datapath/kafka/spec/layout.js";
import { allRequestVersions, sampleStruct } from "../../../support/kafka-samples.js";
import { prng } from "../../../support/prng.js";

const MAX = 1 << 20;

function decoded(frame: Buffer): KafkaRequest {
  const r = decodeRequest(frame, 0, MAX);
  if (r.kind !== "request") throw new Error(`not decoded: ${JSON.stringify(r)}`);
  expect(r.end).toBe(frame.length);
  return r.request;
}

function captured(file: string): { client: string; dir: string; conn: number; frame: Buffer }[] {
  return readFileSync(new URL(`../../../fixtures/kafka/${file}`, import.meta.url), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { client: string; dir: string; conn: number; hex: string })
    .map((o) => ({ ...o, frame: Buffer.from(o.hex, "hex") }));
}

describe("generated message layouts", () => {
  it("are up to date with the JSON specs", () => {
    const script = new URL("../../../../scripts/gen-kafka-messages.mjs", import.meta.url).pathname;
    expect(() => execFileSync(process.execPath, [script, "--check"], { stdio: "pipe" })).not.toThrow();
  });
});

describe("Kafka request decoder: real clients", () => {
  for (const file of ["kafkajs-2.2.4.jsonl", "kcat-1.7.1-librdkafka-2.0.2.jsonl"]) {
    it(`decodes every request ${file} sent, accounting for every byte (re-encodes identically)`, () => {
      const reqs = captured(file).filter((f) => f.dir === "req");
      expect(reqs.length).toBeGreaterThan(10);
      for (const { frame } of reqs) {
        const r = decoded(frame);
        // Re-encoding the decoded tree by the same layout gives the client's bytes back: the
        // layout matches the wire field by field (a misplaced field would shift everything after it).
        expect(encodeRequest(r.apiKey, r.apiVersion, r.correlationId, r.clientId, r.body).equals(frame)).toBe(true);
        if (r.apiKey === 0 || r.apiKey === 1 || r.apiKey === 2) expect(r.topicNames).toEqual(["deathstar-plans"]);
      }
    });
  }

  it("sees the client IDs and the versions the reference lists", () => {
    const js = captured("kafkajs-2.2.4.jsonl").filter((f) => f.dir === "req").map((f) => decoded(f.frame));
    expect(new Set(js.map((r) => r.clientId))).toEqual(new Set(["kafkajs-test"]));
    expect(js.find((r) => r.apiKey === 0)?.apiVersion).toBe(7);
    expect(js.find((r) => r.apiKey === 1)?.apiVersion).toBe(11);
    const rk = captured("kcat-1.7.1-librdkafka-2.0.2.jsonl").filter((f) => f.dir === "req").map((f) => decoded(f.frame));
    expect(rk.find((r) => r.apiKey === 18 && r.apiVersion === 3)?.headerVersion).toBe(2);
    expect(rk.find((r) => r.apiKey === 18)?.clientId).toBe("rdkafka");
  });
});

describe("Kafka request decoder: every API and version in the specs", () => {
  const all = allRequestVersions();
  it("covers every version of the API keys Cilium's rules can name (0-33)", () => {
    for (let k = 0; k <= 33; k++) expect(all.some((a) => a.apiKey === k)).toBe(true);
  });
  it("decodes what the spec layout encodes, topics included, for 20 random messages of each", () => {
    const rand = prng(13);
    for (const { apiKey, version, name } of all) {
      const layout = requestLayout(apiKey, version)!;
      for (let i = 0; i < 20; i++) {
        const topics: string[] = [];
        const body = sampleStruct(layout.body, rand, topics);
        const frame = encodeRequest(apiKey, version, 1000 + i, i % 5 === 0 ? null : "client-x", body);
        const r = decodeRequest(frame, 0, MAX);
        if (r.kind !== "request") throw new Error(`${name} v${version}: ${JSON.stringify(r)}`);
        expect(r.request.apiKey).toBe(apiKey);
        expect(r.request.correlationId).toBe(1000 + i);
        expect([...r.request.topicNames].sort()).toEqual(topics.sort());
        expect(encodeRequest(apiKey, version, 1000 + i, r.request.clientId, r.request.body).equals(frame)).toBe(true);
      }
    }
  });
});

describe("Kafka request decoder: golden bytes for flexible versions (built by hand from the specs)", () => {
  it("OffsetFetch v7 as librdkafka 2.0.2 sends it (header v2, compact strings, tagged fields)", () => {
    const frame = Buffer.from(
      [
        "0009 0007 0000002a 0007 72646b61666b61 00", // header v2: key 9, v7, corr 42, client "rdkafka", no tags
        "03 6731", // GroupId compact "g1"
        "02", // Topics: 1
        "10 6465617468737461722d706c616e73", // Name compact "deathstar-plans"
        "03 00000000 00000001", // PartitionIndexes: [0, 1]
        "00", // topic tags
        "01", // RequireStable true
        "00", // body tags
      ].join("").replace(/ /g, ""),
      "hex",
    );
    const sized = Buffer.concat([Buffer.alloc(4), frame]);
    sized.writeInt32BE(frame.length, 0);
    const r = decoded(sized);
    expect(r).toMatchObject({ apiKey: 9, apiVersion: 7, correlationId: 42, clientId: "rdkafka", headerVersion: 2, flexible: true, topicNames: ["deathstar-plans"] });
    expect(r.body.RequireStable).toBe(true);
  });

  it("Produce v9 (first flexible Produce): compact nullable TransactionalId, compact records, three tag sections", () => {
    const body = [
      "0000 0009 00000005 0001 63 00", // key 0, v9, corr 5, client "c", header tags
      "00", // TransactionalId: null (compact)
      "ffff 00000bb8", // Acks -1, TimeoutMs 3000
      "02 02 74", // TopicData: 1; Name "t"
      "02 00000002 04 616263 00", // PartitionData: 1; Index 2; Records "abc"; partition tags
      "00 00", // topic tags, body tags
    ].join("").replace(/ /g, "");
    const frame = Buffer.from("00000000" + body, "hex");
    frame.writeInt32BE(frame.length - 4, 0);
    const r = decoded(frame);
    expect(r).toMatchObject({ apiKey: 0, apiVersion: 9, headerVersion: 2, clientId: "c", topicNames: ["t"] });
    expect(r.body.Acks).toBe(-1);
    expect(((r.body.TopicData as KafkaStruct[])[0]!.PartitionData as KafkaStruct[])[0]!.Records).toEqual(Buffer.from("abc"));
  });

  it("Heartbeat v4 (flexible from its first flexible version): compact strings and a null GroupInstanceId", () => {
    const frame = Buffer.from("00000000" + "000c 0004 00000007 0001 63 00 0267 00000001 026d 00 00".replace(/ /g, ""), "hex");
    frame.writeInt32BE(frame.length - 4, 0);
    expect(decoded(frame).body).toEqual({ GroupId: "g", GenerationId: 1, MemberId: "m", GroupInstanceId: null });
  });

  it("Fetch v13 names topics by ID only", () => {
    const id = "0123456789abcdef0123456789abcdef";
    const frame = encodeRequest(1, 13, 7, "java", {
      MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1000, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
      Topics: [{ TopicId: id, Partitions: [{ Partition: 0, FetchOffset: 0n, PartitionMaxBytes: 1000 }] }],
      ForgottenTopicsData: [{ TopicId: "ff".repeat(16), Partitions: [1] }],
      RackId: "",
    });
    const r = decoded(frame);
    expect(r.topicNames).toEqual([]);
    // The forgotten topic is not touched by the fetch: only the fetched one must be allowed.
    expect(r.topicIds).toEqual([id]);
  });

  it("Produce v13 (Kafka 4.1) names topics by ID; v12 keeps the names", () => {
    const id = "ab".repeat(16);
    const v13 = decoded(encodeRequest(0, 13, 3, "java", { Acks: -1, TimeoutMs: 30000, TopicData: [{ TopicId: id, PartitionData: [{ Index: 0, Records: Buffer.from("x") }] }] }));
    expect([v13.topicNames, v13.topicIds, v13.flexible]).toEqual([[], [id], true]);
    const v12 = decoded(encodeRequest(0, 12, 3, "java", { Acks: -1, TimeoutMs: 30000, TopicData: [{ Name: "t", PartitionData: [] }] }));
    expect([v12.topicNames, v12.topicIds]).toEqual([["t"], []]);
  });

  it("Metadata v12 by ID and by name; a name and an ID together both count", () => {
    const r = decoded(encodeRequest(3, 12, 1, "c", { Topics: [{ TopicId: "11".repeat(16), Name: null }, { TopicId: "0".repeat(32), Name: "empire-announce" }, { TopicId: "22".repeat(16), Name: "deathstar-plans" }] }));
    expect(r.topicNames).toEqual(["empire-announce", "deathstar-plans"]);
    expect(r.topicIds).toEqual(["11".repeat(16), "22".repeat(16)]);
  });

  it("skips tagged fields by their size (ClusterId in Fetch v12+)", () => {
    const base = encodeRequest(1, 12, 1, "c", { Topics: [] });
    // Replace the body's empty tag section (last byte) with one tagged field: tag 0, 3 bytes.
    const frame = Buffer.concat([base.subarray(0, base.length - 1), Buffer.from("0100030263", "hex").subarray(0, 4), Buffer.from("6361", "hex")]);
    frame.writeInt32BE(frame.length - 4, 0);
    expect(decoded(frame).apiVersion).toBe(12);
  });
});

describe("Kafka request decoder: refusals", () => {
  const ok = encodeRequest(0, 7, 5, "c", { Acks: -1, TimeoutMs: 1000, TopicData: [{ Name: "t", PartitionData: [{ Index: 0, Records: Buffer.from("abc") }] }] });

  it("waits for a whole frame, then takes exactly it", () => {
    for (let n = 0; n < ok.length; n++) expect(decodeRequest(ok.subarray(0, n), 0, MAX).kind).toBe("more");
    const two = Buffer.concat([ok, ok]);
    const r = decodeRequest(two, ok.length, MAX);
    expect(r.kind === "request" && r.end).toBe(two.length);
  });

  it("refuses a frame over the limit (or negative) before it arrives", () => {
    expect(decodeRequest(ok.subarray(0, 4), 0, ok.length - 5)).toMatchObject({ kind: "refused", reason: "frame-too-large" });
    expect(decodeRequest(Buffer.from("ffffffff", "hex"), 0, MAX)).toMatchObject({ kind: "refused", reason: "frame-too-large" });
  });

  it("refuses unknown APIs and versions outside the spec", () => {
    const bad = Buffer.from(ok);
    bad.writeInt16BE(14, 6);
    expect(decodeRequest(bad, 0, MAX)).toMatchObject({ kind: "refused", reason: "unsupported-version", apiKey: 0, apiVersion: 14, correlationId: 5 });
    bad.writeInt16BE(999, 4);
    expect(decodeRequest(bad, 0, MAX)).toMatchObject({ kind: "refused", reason: "unsupported-version", apiKey: 999 });
  });

  it("refuses trailing bytes, truncation inside the frame, and impossible lengths", () => {
    const trailing = Buffer.concat([ok, Buffer.from([0])]);
    trailing.writeInt32BE(trailing.length - 4, 0);
    expect(decodeRequest(trailing, 0, MAX)).toMatchObject({ kind: "refused", reason: "malformed" });
    const short = Buffer.from(ok.subarray(0, ok.length - 1));
    short.writeInt32BE(short.length - 4, 0);
    expect(decodeRequest(short, 0, MAX)).toMatchObject({ kind: "refused", reason: "malformed" });
    // TopicData count 0x7fffffff in a frame of a few dozen bytes.
    const huge = Buffer.from(ok);
    const at = 4 + 8 + 2 + 1 + 2 + 2 + 4; // header, client "c", TransactionalId null, acks, timeout
    huge.writeInt32BE(0x7fffffff, at);
    expect(decodeRequest(huge, 0, MAX)).toMatchObject({ kind: "refused", reason: "malformed" });
  });

  it("refuses null where the spec allows none, and strings that are not UTF-8", () => {
    const nullTopic = encodeRequest(0, 7, 5, "c", { Acks: 1, TimeoutMs: 1, TopicData: [{ Name: "ab", PartitionData: [] }] });
    const at = nullTopic.indexOf(Buffer.from("6162", "hex")) - 2;
    const n = Buffer.from(nullTopic);
    n.writeInt16BE(-1, at);
    const fixed = Buffer.concat([n.subarray(0, at + 2), n.subarray(at + 4)]);
    fixed.writeInt32BE(fixed.length - 4, 0);
    expect(decodeRequest(fixed, 0, MAX)).toMatchObject({ kind: "refused", reason: "malformed" });
    const bad = Buffer.from(nullTopic);
    bad[at + 2] = 0xc3;
    bad[at + 3] = 0x28;
    expect(decodeRequest(bad, 0, MAX)).toMatchObject({ kind: "refused", reason: "malformed" });
  });
});
