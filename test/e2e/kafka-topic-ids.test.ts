// Kafka topic IDs end to end, with --workers 2: real pods in network namespaces, real TPROXY
// interception, and scripted brokers that speak every version in the specs (the librdkafka
// 2.0.2 mock of kafka.test.ts stops before topic IDs). Two brokers of one cluster share an
// identity; a rogue pod on 9092 does not. What one destination identity taught is trusted for
// it alone, and on every worker: a client's next connection lands on either. An ID the proxy
// has not learned is answered UNKNOWN_TOPIC_ID (the client asks Metadata again), and what it
// learned outlives a restart (--state-dir).
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, REPO_ROOT } from "../../src/netns/cluster.js";
import { runIn, spawnIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("Kafka topic-ID e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const SUPPORT = join(REPO_ROOT, "test", "support", "kafka-mock");
const PLANS_ID = "d1".repeat(16);
const ANNOUNCE_ID = "a7".repeat(16);
const KAFKA_0 = "10.214.0.10";
const KAFKA_1 = "10.214.0.11";
const ROGUE = "10.214.0.66";

interface BrokerLine {
  apiKey: number;
  apiVersion: number;
  clientId: string | null;
  topicIds: string[];
}

describe.runIf(canRun)("Kafka topic IDs through l7proxy --workers 2", () => {
  const cluster = new NetnsCluster(`ki${process.pid % 100000}`, {
    endpointsFile: join(FIX, "kafka-topic-ids-endpoints.yaml"),
    servers: [],
    proxyArgs: ["--workers", "2"],
  });
  const brokers: ChildProcess[] = [];
  const logs = new Map<string, BrokerLine[]>();
  let stateDir = "";

  async function startBroker(pod: string, ip: string, topics: Record<string, string>): Promise<void> {
    const child = spawnIn(cluster.topo.pod(pod).netns, process.execPath, [join(SUPPORT, "topic-id-broker.mjs"), ip, "9092", JSON.stringify(topics)], { stdio: ["pipe", "pipe", "inherit"] });
    brokers.push(child);
    const lines: BrokerLine[] = [];
    logs.set(pod, lines);
    await new Promise<void>((resolve, reject) => {
      let rest = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        rest += d;
        const parts = rest.split("\n");
        rest = parts.pop()!;
        for (const p of parts) {
          const o = JSON.parse(p) as BrokerLine & { listening?: number };
          if (o.listening !== undefined) resolve();
          else lines.push(o);
        }
      });
      child.once("exit", (code) => reject(new Error(`topic-id-broker in ${pod} exited (${code})`)));
    });
  }

  async function client<T>(args: string[]): Promise<T> {
    const r = await runIn(cluster.topo.pod("outpost").netns, process.execPath, [join(SUPPORT, "topic-id-client.mjs"), ...args], { timeoutMs: 30_000 });
    return JSON.parse(r.stdout.trim()) as T;
  }

  async function flows(): Promise<{ verdict: string; kafka?: { apiKey: string; apiVersion: number; topics: string[]; errorCode: number } }[]> {
    return (await cluster.admin("/flows")).body
      .trim()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l));
  }

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "l7proxy-ki-state-"));
    (cluster.opts as { proxyArgs?: string[] }).proxyArgs = ["--workers", "2", "--state-dir", stateDir];
    await cluster.start();
    await cluster.applyPolicies([join(FIX, "kafka-topic-ids-policy.yaml")]);
    const cluster0 = { "empire-announce": ANNOUNCE_ID, "deathstar-plans": PLANS_ID };
    await startBroker("kafka-0", KAFKA_0, cluster0);
    await startBroker("kafka-1", KAFKA_1, cluster0);
    // The rogue lends deathstar-plans' ID the name the outpost may read.
    await startBroker("rogue", ROGUE, { "empire-announce": PLANS_ID });
  }, 90_000);
  afterAll(async () => {
    for (const b of brokers) b.kill("SIGTERM");
    await cluster.stop();
    if (stateDir !== "") await rm(stateDir, { recursive: true, force: true });
  }, 60_000);

  test("kcat (librdkafka 2.0.2) and kafkajs 2.2.4 name no topic by ID, even offered every version", async () => {
    const kcat = await runIn(cluster.topo.pod("outpost").netns, "kcat", ["-b", `${KAFKA_0}:9092`, "-X", "socket.timeout.ms=5000", "-C", "-t", "empire-announce", "-p", "0", "-o", "beginning", "-e"], {
      allowFail: true,
      timeoutMs: 20_000,
    });
    expect(kcat.stderr).toContain("Reached end of topic empire-announce [0]");
    const js = await runIn(cluster.topo.pod("empire-hq").netns, process.execPath, [join(SUPPORT, "kafkajs-client.mjs"), `${KAFKA_1}:9092`, "produce", "empire-announce", "hello"], { timeoutMs: 30_000 });
    expect(JSON.parse(js.stdout.trim().split("\n").pop()!)).toMatchObject({ ok: true });
    const seen = [...logs.get("kafka-0")!, ...logs.get("kafka-1")!];
    const newest = (client: string, key: number) => Math.max(...seen.filter((l) => l.clientId === client && l.apiKey === key).map((l) => l.apiVersion));
    // Each picked its own newest against a broker offering the specs' newest (ApiVersions v4,
    // Metadata v12, Fetch v17, Produce v13): below Metadata v10 and Fetch/Produce v13.
    expect({ apiVersions: newest("rdkafka", 18), metadata: newest("rdkafka", 3), fetch: newest("rdkafka", 1) }).toEqual({ apiVersions: 3, metadata: 4, fetch: 11 });
    expect({ apiVersions: newest("kafkajs-test", 18), metadata: newest("kafkajs-test", 3), produce: newest("kafkajs-test", 0) }).toEqual({ apiVersions: 2, metadata: 6, produce: 7 });
    expect(seen.filter((l) => l.topicIds.length > 0)).toEqual([]);
  }, 60_000);

  test("a rogue pod's Metadata answer does not teach the real brokers' IDs: a Fetch by that ID gets UNKNOWN_TOPIC_ID, and nothing reaches the broker", async () => {
    const taught = await client<{ topics: { Name: string; TopicId: string }[] }>([`${ROGUE}:9092`, "metadata", "empire-announce"]);
    expect(taught.topics).toEqual([{ Name: "empire-announce", TopicId: PLANS_ID, ErrorCode: 0 }]);
    const before = logs.get("kafka-1")!.length;
    // Fresh connections: both workers are asked.
    const r = await client<{ errorCodes: number[]; partitionErrorCodes: number[] }>([`${KAFKA_1}:9092`, "fetch", PLANS_ID, "8"]);
    expect(r).toEqual({ errorCodes: Array(8).fill(0), partitionErrorCodes: Array(8).fill(100) });
    expect(logs.get("kafka-1")!.slice(before)).toEqual([]);
    const metrics = (await cluster.admin("/metrics")).body;
    expect(metrics).toMatch(/^l7proxy_kafka_unknown_topic_id_denials_total\{api_key="fetch"\} 8$/m);
    const denied = (await flows()).filter((f) => f.kafka?.errorCode === 100);
    expect(denied).toHaveLength(8);
    expect(denied.every((f) => f.verdict === "DROPPED" && f.kafka!.topics.join() === `<unknown-topic-id:${PLANS_ID}>`)).toBe(true);
  }, 60_000);

  test("IDs one broker taught hold for its sibling, on whichever worker a connection lands", async () => {
    const taught = await client<{ topics: { Name: string; TopicId: string }[] }>([`${KAFKA_0}:9092`, "metadata", "empire-announce"]);
    expect(taught.topics).toEqual([{ Name: "empire-announce", TopicId: ANNOUNCE_ID, ErrorCode: 0 }]);
    const ok = await client<{ errorCodes: number[] }>([`${KAFKA_1}:9092`, "fetch", ANNOUNCE_ID, "12"]);
    expect(ok.errorCodes).toEqual(Array(12).fill(0));
    // The plans' ID is still unknown at the cluster (the outpost may not ask Metadata for it),
    // whatever the rogue said: denied.
    const plans = await client<{ partitionErrorCodes: number[] }>([`${KAFKA_1}:9092`, "fetch", PLANS_ID, "4"]);
    expect(plans.partitionErrorCodes).toEqual(Array(4).fill(100));
    const recorded = (await flows()).filter((f) => f.kafka?.apiKey === "fetch" && f.kafka.apiVersion === 13);
    expect(recorded.filter((f) => f.verdict === "FORWARDED").every((f) => f.kafka!.topics.join() === "empire-announce")).toBe(true);
    expect(recorded.filter((f) => f.verdict === "DROPPED").every((f) => f.kafka!.topics.join() === `<unknown-topic-id:${PLANS_ID}>` || f.kafka!.topics.join() === "deathstar-plans")).toBe(true);
  }, 60_000);

  test("a proxy restarted between the Metadata answer and the Fetch by ID knows the ID (--state-dir): allowed, with no new Metadata", async () => {
    const taught = await client<{ topics: { Name: string; TopicId: string }[] }>([`${KAFKA_0}:9092`, "metadata", "empire-announce"]);
    expect(taught.topics).toEqual([{ Name: "empire-announce", TopicId: ANNOUNCE_ID, ErrorCode: 0 }]);
    // A cold restart: the new proxy has nothing but the state files to go by.
    await cluster.stopProxy();
    await cluster.startProxy();
    expect(cluster.proxyLogOf()).toMatch(/"msg":"Kafka topic IDs restored from --state-dir"/);
    const seen = (): BrokerLine[] => [...logs.get("kafka-0")!, ...logs.get("kafka-1")!];
    const before = seen().length;
    const ok = await client<{ errorCodes: number[]; partitionErrorCodes: number[] }>([`${KAFKA_1}:9092`, "fetch", ANNOUNCE_ID, "6"]);
    expect(ok).toEqual({ errorCodes: Array(6).fill(0), partitionErrorCodes: Array(6).fill(0) });
    const after = seen().slice(before);
    expect(after.filter((l) => l.apiKey === 3)).toEqual([]);
    expect(after.filter((l) => l.apiKey === 1)).toHaveLength(6);
    // What the rogue taught stays the rogue's, restart or not; and a second restart (rolling,
    // this time) still knows the IDs: the restarted proxy keeps them in its own file.
    const plans = await client<{ partitionErrorCodes: number[] }>([`${KAFKA_1}:9092`, "fetch", PLANS_ID, "2"]);
    expect(plans.partitionErrorCodes).toEqual([100, 100]);
    await cluster.restartProxy();
    await cluster.waitReady();
    const again = await client<{ partitionErrorCodes: number[] }>([`${KAFKA_0}:9092`, "fetch", ANNOUNCE_ID, "4"]);
    expect(again.partitionErrorCodes).toEqual(Array(4).fill(0));
    // (The gauge is refreshed once a second.)
    for (let i = 0; i < 30 && !/^l7proxy_kafka_topic_ids [1-9]/m.test((await cluster.admin("/metrics")).body); i++) await new Promise((r) => setTimeout(r, 200));
    expect((await cluster.admin("/metrics")).body).toMatch(/^l7proxy_kafka_topic_ids [1-9]/m);
  }, 120_000);
});
