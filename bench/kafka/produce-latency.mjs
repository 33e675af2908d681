// Produce latency at a fixed request rate with kafkajs 2.2.4 (run in a pod's namespace):
// one 1 KiB message per Produce request (acks=1), sent on a schedule, never waiting for the
// previous answer. Prints {"sent":N,"failed":F,"p50Ms":...,"p99Ms":...,"maxMs":...}.
//   node produce-latency.mjs BROKER TOPIC RATE SECONDS
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require("kafkajs");
const [broker, topic, rateText, secondsText] = process.argv.slice(2);
const rate = Number(rateText);
const seconds = Number(secondsText);
const kafka = new Kafka({ clientId: "bench", brokers: [broker], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
const producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1000 });
await producer.connect();
const value = Buffer.alloc(1024, 97);
// Warm the connection and the metadata before timing.
await producer.send({ topic, acks: 1, messages: [{ value }] });
const latencies = [];
let failed = 0;
const total = Math.round(rate * seconds);
const start = performance.now();
const pending = [];
for (let i = 0; i < total; i++) {
  const due = start + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  // Latency from when the request was due, so a late send counts against it (no coordinated omission).
  pending.push(
    producer.send({ topic, acks: 1, messages: [{ value }] }).then(
      () => latencies.push(performance.now() - due),
      () => failed++,
    ),
  );
}
await Promise.all(pending);
await producer.disconnect();
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? null;
process.stdout.write(JSON.stringify({ sent: total, failed, achievedRps: total / ((performance.now() - start) / 1000), p50Ms: q(0.5), p99Ms: q(0.99), maxMs: latencies.at(-1) ?? null }) + "\n");
process.exit(0);
