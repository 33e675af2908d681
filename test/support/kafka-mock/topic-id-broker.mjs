// A scripted Kafka broker that speaks every version in the specs, topic IDs included (the
// librdkafka 2.0.2 mock stops at Metadata v2 and Fetch v11), with l7proxy's own codec
// (dist/, so `npm run build` first). One partition per topic, always empty, led by itself.
// It advertises the specs' newest versions of every API, so a client picks its own newest,
// and prints one JSON line per request: {apiKey, apiVersion, clientId, topicIds}.
//   node topic-id-broker.mjs HOST PORT '{"topic": "<32 hex topic id>", ...}'
// Answers ApiVersions, Metadata, Produce, Fetch and ListOffsets; other requests are logged
// and left unanswered.
import net from "node:net";
import { encodeResponse } from "../../../dist/datapath/kafka/frames.js";
import { decodeRequest } from "../../../dist/datapath/kafka/request-decoder.js";
import { requestSpec } from "../../../dist/datapath/kafka/spec/layout.js";

const [host, portText, topicsJson] = process.argv.slice(2);
const port = Number(portText);
const topics = JSON.parse(topicsJson);
const nameOf = new Map(Object.entries(topics).map(([name, id]) => [id, name]));

const apiKeys = [];
for (let k = 0; k < 100; k++) {
  const s = requestSpec(k);
  if (s !== undefined) apiKeys.push({ ApiKey: k, MinVersion: s.valid[0], MaxVersion: s.valid[1] });
}

const partition = { PartitionIndex: 0, ErrorCode: 0, HighWatermark: 0n, LastStableOffset: 0n, LogStartOffset: 0n, AbortedTransactions: [], PreferredReadReplica: -1, Records: Buffer.alloc(0) };

function answer(req) {
  const b = req.body;
  switch (req.apiKey) {
    case 18:
      return { ErrorCode: 0, ApiKeys: apiKeys, ThrottleTimeMs: 0 };
    case 3: {
      const wanted = b.Topics === null || b.Topics.length === 0 ? Object.keys(topics) : b.Topics.map((t) => t.Name ?? nameOf.get(t.TopicId) ?? "");
      return {
        Brokers: [{ NodeId: 0, Host: host, Port: port, Rack: null }],
        ClusterId: "topic-id-broker",
        ControllerId: 0,
        Topics: wanted.map((Name) => ({
          ErrorCode: topics[Name] === undefined ? 3 : 0,
          Name,
          TopicId: topics[Name] ?? "0".repeat(32),
          IsInternal: false,
          Partitions: topics[Name] === undefined ? [] : [{ ErrorCode: 0, PartitionIndex: 0, LeaderId: 0, LeaderEpoch: 0, ReplicaNodes: [0], IsrNodes: [0], OfflineReplicas: [] }],
        })),
      };
    }
    case 0:
      if (b.Acks === 0) return null;
      return { Responses: b.TopicData.map((t) => ({ Name: t.Name, TopicId: t.TopicId, PartitionResponses: t.PartitionData.map((p) => ({ Index: p.Index, ErrorCode: 0, BaseOffset: 0n })) })) };
    case 1:
      return { ErrorCode: 0, SessionId: 0, Responses: b.Topics.map((t) => ({ Topic: t.Topic, TopicId: t.TopicId, Partitions: t.Partitions.map((p) => ({ ...partition, PartitionIndex: p.Partition })) })) };
    case 2:
      return { Topics: b.Topics.map((t) => ({ Name: t.Name, Partitions: t.Partitions.map((p) => ({ PartitionIndex: p.PartitionIndex, ErrorCode: 0, OldStyleOffsets: [0n], Timestamp: -1n, Offset: 0n, LeaderEpoch: 0 })) })) };
    default:
      return null;
  }
}

const server = net.createServer((s) => {
  s.on("error", () => {});
  let buf = Buffer.alloc(0);
  s.on("data", (c) => {
    buf = Buffer.concat([buf, c]);
    for (;;) {
      const r = decodeRequest(buf, 0, 1 << 24);
      if (r.kind === "more") break;
      if (r.kind !== "request") {
        process.stdout.write(JSON.stringify({ refused: r.reason, apiKey: r.apiKey, apiVersion: r.apiVersion }) + "\n");
        s.destroy();
        return;
      }
      buf = buf.subarray(r.end);
      const req = r.request;
      process.stdout.write(JSON.stringify({ apiKey: req.apiKey, apiVersion: req.apiVersion, clientId: req.clientId, topicIds: req.topicIds }) + "\n");
      const body = answer(req);
      if (body !== null) s.write(encodeResponse(req.apiKey, req.apiVersion, req.correlationId, body));
    }
  });
});
server.listen(port, host === "127.0.0.1" ? "127.0.0.1" : "0.0.0.0", () => process.stdout.write(JSON.stringify({ listening: port }) + "\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
