// A raw Kafka client for the topic-ID tests, run as a process in a pod's namespace, with
// l7proxy's own codec (dist/, so `npm run build` first). Prints one JSON line.
//   node topic-id-client.mjs HOST:PORT metadata TOPIC   Metadata v12 for TOPIC by name:
//                                                       {"topics":[{"Name","TopicId","ErrorCode"}]}
//   node topic-id-client.mjs HOST:PORT fetch ID N       N Fetch v13 by topic ID, each on a new
//                                                       connection: {"errorCodes":[...],
//                                                       "partitionErrorCodes":[...]} (top-level
//                                                       and partition 0's, one per fetch)
import net from "node:net";
import { encodeRequest } from "../../../dist/datapath/kafka/frames.js";
import { decodeResponse } from "../../../dist/datapath/kafka/response-decoder.js";

const [broker, mode, arg, countText] = process.argv.slice(2);
const [host, port] = broker.split(":");

/** One request on a new connection; its decoded response. */
function exchange(apiKey, version, frame) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port: Number(port) });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => (sock.destroy(), reject(new Error("timeout"))), 10_000);
    sock.on("connect", () => sock.write(frame));
    sock.on("data", (c) => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        const r = decodeResponse(apiKey, version, buf.subarray(0, 4 + buf.readInt32BE(0)));
        if (r.ok) resolve(r.body);
        else reject(new Error(`undecodable response: ${r.reason}`));
      }
    });
    sock.on("error", (err) => (clearTimeout(timer), reject(err)));
    sock.on("close", () => (clearTimeout(timer), reject(new Error("closed before a response"))));
  });
}

const out = (o) => process.stdout.write(JSON.stringify(o, (_k, v) => (typeof v === "bigint" ? Number(v) : v)) + "\n");
if (mode === "metadata") {
  const body = await exchange(3, 12, encodeRequest(3, 12, 1, "java", { Topics: [{ TopicId: "0".repeat(32), Name: arg }], AllowAutoTopicCreation: false, IncludeTopicAuthorizedOperations: false }));
  out({ topics: body.Topics.map((t) => ({ Name: t.Name, TopicId: t.TopicId, ErrorCode: t.ErrorCode })) });
} else if (mode === "fetch") {
  const errorCodes = [];
  const partitionErrorCodes = [];
  for (let i = 0; i < Number(countText); i++) {
    const frame = encodeRequest(1, 13, i + 1, "java", {
      ReplicaId: -1, MaxWaitMs: 0, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
      Topics: [{ TopicId: arg, Partitions: [{ Partition: 0, FetchOffset: 0n, PartitionMaxBytes: 1 << 20 }] }],
      ForgottenTopicsData: [], RackId: "",
    });
    const body = await exchange(1, 13, frame);
    errorCodes.push(body.ErrorCode);
    partitionErrorCodes.push(body.Responses[0]?.Partitions[0]?.ErrorCode ?? null);
  }
  out({ errorCodes, partitionErrorCodes });
} else throw new Error(`unknown mode ${mode}`);
