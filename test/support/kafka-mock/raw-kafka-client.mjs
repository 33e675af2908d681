// A hand-rolled Kafka client for hostile tests, run as a process in a pod's namespace: it
// sends frames built with l7proxy's own encoder (dist/, so `npm run build` first) on one
// connection and prints one JSON line: the responses it got (decoded) and whether the
// connection was closed.
//   node raw-kafka-client.mjs BROKER SCENARIO
// Scenarios: "two-topics" (a Produce naming an allowed and an unlisted topic, then a
// well-formed ApiVersions), "malformed" (a Produce with a byte past its end, then an
// ApiVersions that must never be answered).
import net from "node:net";
import { encodeRequest } from "../../../dist/datapath/kafka/frames.js";
import { decodeResponse } from "../../../dist/datapath/kafka/response-decoder.js";

const [broker, scenario] = process.argv.slice(2);
const [host, port] = broker.split(":");
const produce = (corr, topics) =>
  encodeRequest(0, 7, corr, "raw", { Acks: -1, TimeoutMs: 1000, TopicData: topics.map((Name) => ({ Name, PartitionData: [{ Index: 0, Records: null }] })) });
const apiVersions = (corr) => encodeRequest(18, 2, corr, "raw", {});
const sent = [];
let frames;
if (scenario === "two-topics") {
  frames = [produce(1, ["deathstar-plans", "empire-secrets"]), apiVersions(2)];
  sent.push([0, 7], [18, 2]);
} else if (scenario === "malformed") {
  const p = produce(1, ["deathstar-plans"]);
  const bad = Buffer.concat([p, Buffer.from([0])]);
  bad.writeInt32BE(bad.length - 4, 0);
  frames = [bad, apiVersions(2)];
  sent.push([0, 7], [18, 2]);
} else throw new Error(`unknown scenario ${scenario}`);

const sock = net.connect({ host, port: Number(port) });
let buf = Buffer.alloc(0);
const responses = [];
sock.on("data", (c) => {
  buf = Buffer.concat([buf, c]);
  while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
    const f = buf.subarray(0, 4 + buf.readInt32BE(0));
    buf = buf.subarray(f.length);
    const [k, v] = sent[responses.length] ?? [18, 0];
    const r = decodeResponse(k, v, f);
    responses.push(r.ok ? { correlationId: r.correlationId, body: r.body } : { error: r.reason });
    if (responses.length === frames.length) sock.end();
  }
});
const done = (closedBy) => {
  process.stdout.write(JSON.stringify({ closedBy, responses }, (_k, v) => (typeof v === "bigint" ? Number(v) : v)) + "\n");
  process.exit(0);
};
sock.on("close", () => done(responses.length === frames.length ? "client" : "proxy"));
sock.on("error", () => {});
sock.on("connect", () => sock.write(Buffer.concat(frames)));
setTimeout(() => done("timeout"), 10_000);
