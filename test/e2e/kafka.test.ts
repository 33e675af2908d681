// Cilium's Kafka story end to end: real pods in network namespaces, real TPROXY interception
// on the node, librdkafka's mock cluster as the broker, kafkajs 2.2.4 and kcat (librdkafka
// 2.0.2) as clients, Cilium's example policy. What each client sees is what its user would.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { KafkaCluster } from "../../src/demo/kafka-cluster.js";
import { REPO_ROOT } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("Kafka e2e");
const KAFKAJS_CLIENT = join(REPO_ROOT, "test", "support", "kafka-mock", "kafkajs-client.mjs");
const RAW_CLIENT = join(REPO_ROOT, "test", "support", "kafka-mock", "raw-kafka-client.mjs");

interface JsResult {
  ok: boolean;
  name?: string;
  type?: string;
  message?: string;
  messages?: { partition: number; offset: string; value: string }[];
  committed?: unknown[];
}

describe.runIf(canRun)("Kafka through l7proxy (Cilium's Kafka example)", () => {
  const cluster = new KafkaCluster(`kf${process.pid % 100000}`);

  async function kafkajs(pod: string, args: string[]): Promise<JsResult> {
    const r = await runIn(cluster.topo.pod(pod).netns, process.execPath, [KAFKAJS_CLIENT, cluster.bootstrap, ...args], {
      allowFail: true,
      timeoutMs: 40_000,
      input: "",
    });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    try {
      return JSON.parse(line) as JsResult;
    } catch {
      throw new Error(`kafkajs client printed no result (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
    }
  }

  async function raw(pod: string, scenario: string): Promise<{ closedBy: string; responses: unknown[] }> {
    const r = await runIn(cluster.topo.pod(pod).netns, process.execPath, [RAW_CLIENT, cluster.bootstrap, scenario], { timeoutMs: 20_000 });
    return JSON.parse(r.stdout.trim()) as { closedBy: string; responses: unknown[] };
  }

  async function parseErrors(): Promise<number> {
    const m = /l7proxy_parse_errors_total\{code="L7P_ERR_KAFKA_REQUEST"\} (\d+)/.exec((await cluster.admin("/metrics")).body);
    return m === null ? 0 : Number(m[1]);
  }

  beforeAll(async () => {
    await cluster.start();
    await cluster.applyKafkaPolicy(true);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("empire-hq produces to deathstar-plans and empire-announce (kafkajs and kcat)", async () => {
    expect(await kafkajs("empire-hq", ["produce", "deathstar-plans", "plan-1", "plan-2"])).toMatchObject({ ok: true });
    expect(await kafkajs("empire-hq", ["produce", "empire-announce", "hello-1"])).toMatchObject({ ok: true });
    const k = await cluster.kcatProduce("empire-hq", "empire-announce", ["hello-2"]);
    expect(k.code).toBe(0);
  });

  test("an outpost consumes empire-announce in a consumer group with commits (kafkajs), and with kcat", async () => {
    const js = await kafkajs("outpost-8888", ["consume", "empire-announce", "outposts", "2"]);
    expect(js.ok).toBe(true);
    expect(js.messages!.map((m) => m.value).sort()).toEqual(["hello-1", "hello-2"]);
    const k = await cluster.kcatConsume("outpost-9999", "empire-announce");
    expect(k.code).toBe(0);
    expect(k.lines.sort()).toEqual(["hello-1", "hello-2"]);
  });

  test("an outpost consuming deathstar-plans gets TOPIC_AUTHORIZATION_FAILED, at once", async () => {
    const js = await kafkajs("outpost-8888", ["consume", "deathstar-plans", "spies", "1"]);
    expect(js).toMatchObject({ ok: false, name: "KafkaJSProtocolError", type: "TOPIC_AUTHORIZATION_FAILED" });
    const k = await cluster.kcatConsume("outpost-9999", "deathstar-plans");
    expect(k.stderr).toContain("Broker: Topic authorization failed");
    expect(k.lines).toEqual([]);
  });

  test("an outpost may not produce, even to empire-announce", async () => {
    const js = await kafkajs("outpost-8888", ["produce", "empire-announce", "forged"]);
    expect(js).toMatchObject({ ok: false, name: "KafkaJSProtocolError", type: "TOPIC_AUTHORIZATION_FAILED" });
  });

  test("the backup consumes deathstar-plans", async () => {
    const k = await cluster.kcatConsume("empire-backup", "deathstar-plans");
    expect(k.code).toBe(0);
    expect(k.lines).toEqual(["plan-1", "plan-2"]);
  });

  test("a Produce naming one allowed and one unlisted topic is denied whole; the connection goes on", async () => {
    const r = await raw("empire-hq", "two-topics");
    expect(r.closedBy).toBe("client");
    const [produce, av] = r.responses as { correlationId: number; body: { Responses?: { Name: string; PartitionResponses: { ErrorCode: number }[] }[]; ErrorCode?: number } }[];
    expect(produce!.correlationId).toBe(1);
    expect(produce!.body.Responses!.map((t) => [t.Name, t.PartitionResponses[0]!.ErrorCode])).toEqual([["deathstar-plans", 29], ["empire-secrets", 29]]);
    // ApiVersions is in the produce role: the broker itself answers it.
    expect(av).toMatchObject({ correlationId: 2, body: { ErrorCode: 0 } });
  });

  test("a request with a byte past its end closes the connection; nothing after it is answered", async () => {
    const before = await parseErrors();
    const r = await raw("empire-hq", "malformed");
    expect(r).toEqual({ closedBy: "proxy", responses: [] });
    expect(await parseErrors()).toBe(before + 1);
    // The plans topic still holds only what empire-hq produced through kafkajs.
    expect((await cluster.kcatConsume("empire-backup", "deathstar-plans")).lines).toEqual(["plan-1", "plan-2"]);
  });

  test("metrics and flow records show the Kafka requests, allowed and denied", async () => {
    const metrics = (await cluster.admin("/metrics")).body;
    expect(metrics).toMatch(/hubble_kafka_requests_total\{topic="deathstar-plans",api_key="produce",error_code="0",reporter="server",source_namespace="empire",source_workload="empire-hq",destination_namespace="empire",destination_workload="kafka-broker"\} [1-9]/);
    expect(metrics).toMatch(/hubble_kafka_requests_total\{topic="deathstar-plans",api_key="metadata",error_code="29",[^}]*source_workload="outpost"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/l7proxy_denied_requests_total\{protocol="kafka",source_namespace="empire",source_workload="outpost",destination_namespace="empire",destination_workload="kafka-broker",policy="empire\/secure-empire-kafka"\} [1-9]/);
    expect(metrics).toMatch(/hubble_policy_verdicts_total\{direction="ingress",match="l7\/kafka",action="dropped"\} [1-9]/);
    expect(metrics).toMatch(/hubble_kafka_request_duration_seconds_count\{topic="empire-announce",api_key="fetch",reporter="server",phase="upstream"/);
    const flows = (await cluster.admin("/flows")).body
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { verdict: string; protocol: string; kafka?: { apiKey: string; topics: string[]; errorCode: number; clientId: string | null } });
    const dropped = flows.find((f) => f.protocol === "kafka" && f.verdict === "DROPPED" && f.kafka?.topics.includes("deathstar-plans"));
    expect(dropped?.kafka).toMatchObject({ errorCode: 29 });
    expect(flows.some((f) => f.protocol === "kafka" && f.verdict === "FORWARDED" && f.kafka?.apiKey === "fetch")).toBe(true);
    // Neither client names topics by ID (their Fetch and Produce versions predate topic IDs),
    // so no request was ever decided on an unknown topic ID.
    expect(flows.filter((f) => f.kafka?.topics.some((t) => t.startsWith("<unknown-topic-id"))).length).toBe(0);
    expect(flows.filter((f) => f.protocol === "kafka").length).toBeGreaterThan(20);
  });
});
