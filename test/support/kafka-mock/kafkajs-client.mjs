// A kafkajs 2.2.4 client for tests, run as a process (in a pod's namespace). Prints one JSON
// line with the outcome and exits 0 either way:
//   node kafkajs-client.mjs BROKER produce TOPIC MESSAGE...
//   node kafkajs-client.mjs BROKER consume TOPIC GROUP COUNT   (consumer group: reads its committed
//                                                            offsets, reads COUNT messages, commits)
//   {"ok":true,...} | {"ok":false,"name":"KafkaJSProtocolError","type":"TOPIC_AUTHORIZATION_FAILED",...}
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require("kafkajs");
const [broker, mode, topic, ...rest] = process.argv.slice(2);
const kafka = new Kafka({
  clientId: process.env.KAFKA_CLIENT_ID ?? "kafkajs-test",
  brokers: [broker],
  logLevel: process.env.KAFKAJS_DEBUG ? logLevel.DEBUG : logLevel.NOTHING,
  connectionTimeout: 3000,
  requestTimeout: 10000,
  // A denial is final: no retries, so the test sees it at once instead of after backoff.
  retry: { retries: 0 },
});

function fail(err) {
  const cause = err?.cause ?? err?.originalError;
  const deepest = err?.name === "KafkaJSProtocolError" ? err : (cause?.name === "KafkaJSProtocolError" ? cause : err);
  process.stdout.write(JSON.stringify({ ok: false, name: deepest?.name, type: deepest?.type, code: deepest?.code, message: String(deepest?.message ?? err) }) + "\n");
  process.exit(0);
}

try {
  if (mode === "produce") {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const res = await producer.send({ topic, acks: -1, messages: rest.map((value) => ({ value })) });
    await producer.disconnect();
    process.stdout.write(JSON.stringify({ ok: true, result: res }) + "\n");
  } else if (mode === "consume") {
    const [group, countText] = rest;
    const want = Number(countText);
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 1000, retry: { retries: 0 } });
    const got = [];
    let crashed = null;
    consumer.on(consumer.events.CRASH, (e) => { crashed = e.payload.error; });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setInterval(() => { if (crashed) { clearInterval(timer); reject(crashed); } }, 50);
      consumer.run({
        autoCommit: true,
        eachMessage: async ({ message, partition }) => {
          got.push({ partition, offset: message.offset, value: String(message.value) });
          if (got.length >= want) { clearInterval(timer); resolve(); }
        },
      }).catch(reject);
    });
    // Commit what was read explicitly too (OffsetCommit), before leaving the group.
    const committed = got.map((m) => ({ topic, partition: m.partition, offset: String(Number(m.offset) + 1) }));
    await consumer.commitOffsets(committed);
    await consumer.disconnect();
    process.stdout.write(JSON.stringify({ ok: true, messages: got, committed }) + "\n");
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.exit(0);
} catch (err) {
  fail(err);
}
