import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { ANSWERED_API_KEYS, kafkaDenyResponder } from "../../../../src/datapath/kafka/denied-reply.js";
import { encodeRequest } from "../../../../src/datapath/kafka/frames.js";
import type { KafkaStruct } from "../../../../src/datapath/kafka/message-reader.js";
import { decodeRequest, type KafkaRequest } from "../../../../src/datapath/kafka/request-decoder.js";
import { decodeResponse } from "../../../../src/datapath/kafka/response-decoder.js";
import { requestLayout, requestSpec } from "../../../../src/datapath/kafka/spec/layout.js";
import type { L7Verdict } from "../../../../src/policy/decision.js";
import { sampleStruct } from "../../../support/kafka-samples.js";
import { prng } from "../../../support/prng.js";

const VERDICT = {} as L7Verdict;

function request(apiKey: number, version: number, body: KafkaStruct, corr = 77): KafkaRequest {
  const r = decodeRequest(encodeRequest(apiKey, version, corr, "c", body), 0, 1 << 20);
  if (r.kind !== "request") throw new Error(JSON.stringify(r));
  return r.request;
}

function denyFrame(req: KafkaRequest): Buffer {
  const d = kafkaDenyResponder.deny(req, VERDICT);
  if (d.kind !== "reply") throw new Error("closed");
  return d.frame;
}

/** Every ErrorCode in a response tree. */
function errorCodes(v: unknown, out: number[] = []): number[] {
  if (Array.isArray(v)) for (const x of v) errorCodes(x, out);
  else if (v !== null && typeof v === "object" && !Buffer.isBuffer(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (k === "ErrorCode" && typeof x === "number") out.push(x);
      else errorCodes(x, out);
    }
  }
  return out;
}

describe("Kafka denials", () => {
  it("answer every version of every answered API with a response that decodes at that version, carrying the correlation id", () => {
    const rand = prng(29);
    for (const apiKey of ANSWERED_API_KEYS) {
      const spec = requestSpec(apiKey)!;
      for (let v = spec.valid[0]!; v <= spec.valid[1]!; v++) {
        for (let i = 0; i < 10; i++) {
          const body = sampleStruct(requestLayout(apiKey, v)!.body, rand, []);
          if (apiKey === 0) body.Acks = -1;
          const req = request(apiKey, v, body, 500 + i);
          const frame = denyFrame(req);
          const res = decodeResponse(apiKey, v, frame);
          if (!res.ok) throw new Error(`${spec.name} v${v}: ${res.reason}`);
          expect(res.correlationId).toBe(500 + i);
          const codes = errorCodes(res.body);
          // Every error field carries the denial; there is at least one wherever the request named something.
          for (const c of codes) expect([0, 29, 30, 31, 53]).toContain(c);
          // APIs with a top-level error field always carry the denial, whatever the request named.
          const topLevel = [11, 12, 13, 14, 18].includes(apiKey) || (apiKey === 10 && v < 4) || (apiKey === 9 && v >= 2 && v < 8) || (apiKey === 1 && v >= 13);
          if (topLevel) expect(res.body.ErrorCode).not.toBe(0);
        }
      }
    }
  });

  it("put 29 on every topic and partition for Produce, as Cilium did (its golden bytes, Produce v1)", () => {
    const req = request(0, 1, { Acks: 1, TimeoutMs: 1000, TopicData: [{ Name: "EF", PartitionData: [] }, { Name: "GH", PartitionData: [] }] }, 65537);
    expect(denyFrame(req).toString("hex")).toBe("0000001c" + "00010001" + "00000002" + "00024546" + "00000000" + "00024748" + "00000000" + "00000000");
    const two = request(0, 7, { Acks: -1, TimeoutMs: 1, TopicData: [{ Name: "a", PartitionData: [{ Index: 0, Records: null }, { Index: 3, Records: null }] }] });
    const res = decodeResponse(0, 7, denyFrame(two));
    expect(res.ok && res.body.Responses).toEqual([
      { Name: "a", PartitionResponses: [
        { Index: 0, ErrorCode: 29, BaseOffset: -1n, LogAppendTimeMs: -1n, LogStartOffset: -1n },
        { Index: 3, ErrorCode: 29, BaseOffset: -1n, LogAppendTimeMs: -1n, LogStartOffset: -1n },
      ] },
    ]);
  });

  it("close the connection for a denied acks=0 Produce and for APIs without an error shape", () => {
    expect(kafkaDenyResponder.deny(request(0, 7, { Acks: 0, TimeoutMs: 1, TopicData: [{ Name: "a", PartitionData: [] }] }), VERDICT)).toEqual({ kind: "close", errorCode: 29 });
    expect(kafkaDenyResponder.deny(request(19, 4, { Topics: [{ Name: "a", NumPartitions: 1, ReplicationFactor: 1, Assignments: [], Configs: [] }], timeoutMs: 1 }), VERDICT).kind).toBe("close");
  });

  it("Fetch v13+ answers with the top-level error only; v7-12 per partition", () => {
    const f13 = decodeResponse(1, 13, denyFrame(request(1, 13, { Topics: [{ TopicId: "ab".repeat(16), Partitions: [{ Partition: 0 }] }] })));
    expect(f13.ok && [f13.body.ErrorCode, f13.body.Responses]).toEqual([29, []]);
    const f11 = decodeResponse(1, 11, denyFrame(request(1, 11, { Topics: [{ Topic: "t", Partitions: [{ Partition: 4 }] }] })));
    expect(f11.ok && errorCodes(f11.body.Responses)).toEqual([29]);
  });

  it("use response header v1 for flexible versions, and v0 for ApiVersions at any version", () => {
    const flex = denyFrame(request(12, 4, { GroupId: "g", GenerationId: 1, MemberId: "m", GroupInstanceId: null }, 9));
    // size, correlation id, header tags (0), throttle, error 30, body tags (0)
    expect(flex.toString("hex")).toBe("0000000c" + "00000009" + "00" + "00000000" + "001e" + "00");
    const av = denyFrame(request(18, 3, { ClientSoftwareName: "x", ClientSoftwareVersion: "1" }, 9));
    expect(av.toString("hex").slice(8, 20)).toBe("00000009" + "001f"); // no header tag byte before the error code
  });

  it("group APIs carry GROUP_AUTHORIZATION_FAILED (transactional coordinators 53)", () => {
    for (const [k, v, body] of [[11, 5, { GroupId: "g", ProtocolType: "consumer", Protocols: [] }], [12, 3, {}], [13, 1, {}], [14, 3, {}], [10, 2, { Key: "g", KeyType: 0 }]] as const) {
      const res = decodeResponse(k, v, denyFrame(request(k, v, body as KafkaStruct)));
      expect(res.ok && res.body.ErrorCode).toBe(30);
    }
    const txn = decodeResponse(10, 4, denyFrame(request(10, 4, { KeyType: 1, CoordinatorKeys: ["t1", "t2"] })));
    expect(txn.ok && errorCodes(txn.body)).toEqual([53, 53]);
  });
});

// kafkajs's own response parsers (the ones its connections use) read our denials and throw
// the error a broker's answer would make them throw.
describe("Kafka denials as kafkajs 2.2.4 reads them", () => {
  const require = createRequire(import.meta.url);
  const cases: [string, number, number, KafkaStruct][] = [
    ["produce/v7", 0, 7, { Acks: -1, TimeoutMs: 1, TopicData: [{ Name: "deathstar-plans", PartitionData: [{ Index: 0, Records: null }] }] }],
    ["fetch/v11", 1, 11, { Topics: [{ Topic: "deathstar-plans", Partitions: [{ Partition: 0 }] }] }],
    ["listOffsets/v3", 2, 3, { Topics: [{ Name: "deathstar-plans", Partitions: [{ PartitionIndex: 0, Timestamp: -1n }] }] }],
    ["metadata/v6", 3, 6, { Topics: [{ Name: "deathstar-plans" }] }],
    ["offsetCommit/v5", 8, 5, { GroupId: "g", Topics: [{ Name: "deathstar-plans", Partitions: [{ PartitionIndex: 0 }] }] }],
    ["offsetFetch/v4", 9, 4, { GroupId: "g", Topics: [{ Name: "deathstar-plans", PartitionIndexes: [0] }] }],
    ["findCoordinator/v2", 10, 2, { Key: "g" }],
    ["joinGroup/v5", 11, 5, { GroupId: "g", Protocols: [] }],
    ["heartbeat/v3", 12, 3, {}],
    ["leaveGroup/v1", 13, 1, {}],
    ["syncGroup/v3", 14, 3, {}],
  ];
  for (const [path, k, v, body] of cases) {
    it(`${path}`, async () => {
      const mod = require(`kafkajs/src/protocol/requests/${path}/response.js`) as { decode(b: Buffer): Promise<unknown>; parse(d: unknown): Promise<unknown> };
      const frame = denyFrame(request(k, v, body));
      const decoded = await mod.decode(frame.subarray(8));
      const err = await mod.parse(decoded).then(
        () => null,
        (e: { name: string; type: string }) => e,
      );
      expect(err).toMatchObject({ name: "KafkaJSProtocolError", type: k >= 10 ? "GROUP_AUTHORIZATION_FAILED" : "TOPIC_AUTHORIZATION_FAILED" });
    });
  }
});
