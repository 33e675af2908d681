// A rolling restart under Kafka load: kafkajs produces to an allowed topic without pause
// while the proxy is restarted twice (a new process beside the old one, then SIGTERM to the
// old one). The client may reconnect, but no send may fail, and every message must be in
// the topic afterwards; a denied request is still denied by the proxy that is left.
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { KafkaCluster } from "../../src/demo/kafka-cluster.js";
import { REPO_ROOT, sleep } from "../../src/netns/cluster.js";
import { spawnIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("Kafka rolling restart e2e");
const KAFKAJS = createRequire(join(REPO_ROOT, "package.json")).resolve("kafkajs");

// For argv[2] ms: one send after another (acks=-1, kafkajs's default retries), each a
// numbered message; then one JSON line: how many were sent and how many failed.
const PRODUCE = `
const { Kafka, logLevel } = require(${JSON.stringify(KAFKAJS)});
const kafka = new Kafka({ clientId: "restart-test", brokers: [process.argv[1]], logLevel: logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: 10000 });
(async () => {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const until = Date.now() + Number(process.argv[2]);
  let sent = 0, failed = 0, firstError = null;
  while (Date.now() < until) {
    try { await producer.send({ topic: "empire-announce", acks: -1, messages: [{ value: "restart-" + sent }] }); sent++; }
    catch (e) { failed++; firstError ??= String(e.message ?? e); }
    await new Promise((r) => setTimeout(r, 10));
  }
  await producer.disconnect();
  process.stdout.write(JSON.stringify({ sent, failed, firstError }) + "\\n");
})().catch((e) => { process.stdout.write(JSON.stringify({ sent: 0, failed: -1, firstError: String(e) }) + "\\n"); });
`;

describe.runIf(canRun)("Kafka through a rolling restart", () => {
  const cluster = new KafkaCluster(`kr${process.pid % 100000}`);
  beforeAll(async () => {
    await cluster.start();
    await cluster.applyKafkaPolicy(true);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("two restarts during 12 s of produce requests lose no message", { timeout: 120_000 }, async () => {
    const client = spawnIn(cluster.topo.pod("empire-hq").netns, process.execPath, ["-e", PRODUCE, cluster.bootstrap, "12000"]);
    let stdout = "";
    let stderr = "";
    client.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    client.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    let clientDone = false;
    const exited = new Promise<number | null>((r) =>
      client.once("exit", (code) => {
        clientDone = true;
        r(code);
      }),
    );
    await sleep(3000);
    const firstExit = await cluster.restartProxy();
    // The old process has gone (its connection with it) while the producer still sends.
    expect(clientDone).toBe(false);
    await sleep(3000);
    const secondExit = await cluster.restartProxy();
    expect(clientDone).toBe(false);
    expect(await exited, stderr).toBe(0);
    const r = JSON.parse(stdout.trim()) as { sent: number; failed: number; firstError: string | null };
    console.log(`Kafka rolling restart: ${JSON.stringify(r)}`);
    expect([firstExit, secondExit]).toEqual([0, 0]);
    expect(r.failed, r.firstError ?? "").toBe(0);
    expect(r.sent).toBeGreaterThan(100);
    // Every message is in the topic, read back by an outpost through the proxy that is left.
    const got = await cluster.kcatConsume("outpost-8888", "empire-announce");
    const numbers = new Set(got.lines.filter((m) => m.startsWith("restart-")).map((m) => Number(m.slice(8))));
    for (let i = 0; i < r.sent; i++) expect(numbers.has(i), `message ${i}`).toBe(true);
  });
});
