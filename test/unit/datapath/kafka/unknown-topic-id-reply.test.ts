// The answer to a Fetch or Produce refused only for naming topic IDs the proxy has not learned:
// UNKNOWN_TOPIC_ID (100) on every partition, as a broker answers IDs it does not know, at every
// version that names topics by ID. Golden bytes written by hand from FetchResponse.json and
// ProduceResponse.json (Produce v13: Kafka 4.1, layered on the 4.0 specs by the generator).
import { describe, expect, it } from "vitest";
import { kafkaDenyResponder, namesTopicsById } from "../../../../src/datapath/kafka/denied-reply.js";
import { encodeRequest } from "../../../../src/datapath/kafka/frames.js";
import type { KafkaStruct } from "../../../../src/datapath/kafka/message-reader.js";
import { decodeRequest, type KafkaRequest } from "../../../../src/datapath/kafka/request-decoder.js";
import { decodeResponse } from "../../../../src/datapath/kafka/response-decoder.js";
import { requestSpec } from "../../../../src/datapath/kafka/spec/layout.js";
import type { L7Verdict } from "../../../../src/policy/decision.js";

const VERDICT = {} as L7Verdict;
const A = "a7".repeat(16);
const B = "0f".repeat(16);

function request(apiKey: number, version: number, body: KafkaStruct, corr: number): KafkaRequest {
  const r = decodeRequest(encodeRequest(apiKey, version, corr, "java", body), 0, 1 << 20);
  if (r.kind !== "request") throw new Error(JSON.stringify(r));
  return r.request;
}

function reply(req: KafkaRequest): Buffer {
  const d = kafkaDenyResponder.unknownTopicIds(req, VERDICT);
  if (d.kind !== "reply") throw new Error("closed");
  expect(d.errorCode).toBe(100);
  return d.frame;
}

const hex = (s: string): string => s.replace(/\s+/g, "");
const sized = (body: string): string => (hex(body).length / 2).toString(16).padStart(8, "0") + hex(body);

/** Fetch v13+: partition 0 and 3 of A, partition 1 of B. */
function fetch(version: number): KafkaRequest {
  const part = (p: number) => ({ Partition: p, CurrentLeaderEpoch: -1, FetchOffset: 5n, LastFetchedEpoch: -1, LogStartOffset: -1n, PartitionMaxBytes: 1 << 20 });
  return request(1, version, {
    ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
    Topics: [{ TopicId: A, Partitions: [part(0), part(3)] }, { TopicId: B, Partitions: [part(1)] }],
    ForgottenTopicsData: [], RackId: "",
  }, 0x01020304);
}

/** One FetchResponse v13+ partition: index, 100, HighWatermark/LastStableOffset/LogStartOffset -1, AbortedTransactions [], PreferredReadReplica -1, Records null, tags. */
const fetchPartition = (index: string) => `${index} 0064 ffffffffffffffff ffffffffffffffff ffffffffffffffff 01 ffffffff 00 00`;

const FETCH_V13_PLUS = sized(
  "01020304 00" + // correlation id; response header v1 tags
  " 00000000 0000 00000000" + // ThrottleTimeMs 0, ErrorCode 0 (no top-level error), SessionId 0
  " 03" + // Responses: 2
  ` ${A} 03 ${fetchPartition("00000000")} ${fetchPartition("00000003")} 00` + // TopicId A, Partitions: 2; topic tags
  ` ${B} 02 ${fetchPartition("00000001")} 00` + // TopicId B, Partitions: 1; topic tags
  " 00", // body tags (NodeEndpoints, v16+, is tagged: absent)
);

describe("UNKNOWN_TOPIC_ID answers", () => {
  it("Fetch v13 to v17: 100 on every partition of every topic, no top-level error, no session (golden bytes)", () => {
    const newest = requestSpec(1)!.valid[1]!;
    expect(newest).toBe(17);
    for (let v = 13; v <= newest; v++) {
      const frame = reply(fetch(v));
      expect(frame.toString("hex"), `Fetch v${v}`).toBe(FETCH_V13_PLUS);
      const res = decodeResponse(1, v, frame);
      expect(res.ok && res.body.Responses).toMatchObject([
        { TopicId: A, Partitions: [{ PartitionIndex: 0, ErrorCode: 100 }, { PartitionIndex: 3, ErrorCode: 100 }] },
        { TopicId: B, Partitions: [{ PartitionIndex: 1, ErrorCode: 100 }] },
      ]);
    }
  });

  it("Produce v13: 100 on every partition, BaseOffset -1 (golden bytes); acks=0 closes the connection", () => {
    const body = (acks: number) => ({ TransactionalId: null, Acks: acks, TimeoutMs: 30_000, TopicData: [{ TopicId: A, PartitionData: [{ Index: 2, Records: null }, { Index: 7, Records: null }] }] });
    const partition = (index: string) => `${index} 0064 ffffffffffffffff ffffffffffffffff ffffffffffffffff 01 00 00`; // Index, 100, BaseOffset, LogAppendTimeMs, LogStartOffset -1, RecordErrors [], ErrorMessage null, tags
    const golden = sized(
      "00000063 00" + // correlation id 99; response header v1 tags
      ` 02 ${A} 03 ${partition("00000002")} ${partition("00000007")} 00` + // Responses: 1; TopicId A; PartitionResponses: 2; topic tags
      " 00000000 00", // ThrottleTimeMs 0; body tags
    );
    expect(reply(request(0, 13, body(-1), 99)).toString("hex")).toBe(golden);
    expect(kafkaDenyResponder.unknownTopicIds(request(0, 13, body(0), 100), VERDICT)).toEqual({ kind: "close", errorCode: 100 });
  });

  it("only the versions that name topics by ID get it; older ones get the ordinary denial", () => {
    expect([0, 1].flatMap((k) => [11, 12, 13].map((v) => namesTopicsById(k, v)))).toEqual([false, false, true, false, false, true]);
    expect(namesTopicsById(3, 12)).toBe(false);
    const older = request(1, 12, {
      ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
      Topics: [{ Topic: "a", Partitions: [{ Partition: 0, CurrentLeaderEpoch: -1, FetchOffset: 0n, LastFetchedEpoch: -1, LogStartOffset: -1n, PartitionMaxBytes: 1 }] }],
      ForgottenTopicsData: [], RackId: "",
    }, 5);
    const d = kafkaDenyResponder.unknownTopicIds(older, VERDICT);
    expect(d).toEqual(kafkaDenyResponder.deny(older, VERDICT));
    expect(d.errorCode).toBe(29);
  });
});
