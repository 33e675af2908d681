import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { KafkaDetail, L7Exchange } from "../../../src/datapath/observer.js";
import { formatFlowLine } from "../../../src/telemetry/flow-format.js";
import type { FlowRecord } from "../../../src/telemetry/flow-record.js";
import { readMetric } from "../../support/read-metrics.js";
import { Telemetry } from "../../../src/telemetry/telemetry.js";
import { deathstar, l7Flow, l7Verdict, query, tiefighter } from "./flow-fixtures.js";

function kafka(allowed: boolean, over: Partial<KafkaDetail> = {}): L7Exchange<KafkaDetail> {
  const flow = { ...l7Flow(tiefighter, deathstar), l7: "kafka" as const };
  return {
    flow,
    query: query(flow, 9092),
    verdict: l7Verdict(allowed),
    proxyLatencySeconds: 0.0002,
    upstreamLatencySeconds: allowed ? 0.002 : undefined,
    startedAtMs: undefined,
    detail: { protocol: "kafka", apiKey: 1, apiVersion: 11, correlationId: 9, clientId: "rdkafka", topics: ["deathstar-plans"], errorCode: allowed ? 0 : 29, ...over },
  };
}

function setup() {
  const registry = new Registry();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString("utf8").split("\n").filter((l) => l !== ""));
      cb();
    },
  });
  const t = new Telemetry({ registry, logger: pino({ level: "info" }, sink), processMetrics: false });
  return { registry, t, lines };
}

const WL = { source_namespace: "default", source_workload: "tiefighter", destination_namespace: "default", destination_workload: "deathstar" };

describe("Kafka telemetry", () => {
  it("counts requests per topic, API key and error code, denials by policy, and L7 verdicts", async () => {
    const { registry, t } = setup();
    t.l7Request(kafka(true));
    t.l7Request(kafka(false));
    t.l7Request(kafka(false, { topics: ["a", "b"], apiKey: 0 }));
    t.l7Request(kafka(true, { topics: [], apiKey: 12 }));
    expect(await readMetric(registry, "hubble_kafka_requests_total", { topic: "deathstar-plans", api_key: "fetch", error_code: "0", reporter: "server", ...WL })).toBe(1);
    expect(await readMetric(registry, "hubble_kafka_requests_total", { topic: "deathstar-plans", api_key: "fetch", error_code: "29", ...WL })).toBe(1);
    expect(await readMetric(registry, "hubble_kafka_requests_total", { topic: "b", api_key: "produce", error_code: "29" })).toBe(1);
    expect(await readMetric(registry, "hubble_kafka_requests_total", { topic: "", api_key: "heartbeat" })).toBe(1);
    expect(await readMetric(registry, "l7proxy_denied_requests_total", { protocol: "kafka", ...WL, policy: "default-deny" })).toBe(2);
    expect(await readMetric(registry, "hubble_policy_verdicts_total", { match: "l7/kafka", action: "dropped" })).toBe(2);
    expect(await readMetric(registry, "hubble_kafka_request_duration_seconds_count", { topic: "deathstar-plans", api_key: "fetch", phase: "upstream" })).toBe(1);
    expect(await readMetric(registry, "hubble_kafka_request_duration_seconds_count", { topic: "deathstar-plans", api_key: "fetch", phase: "proxy" })).toBe(2);
  });

  it("all unknown topic IDs share one topic label (made-up IDs cannot add series); flow records keep the ID", async () => {
    const { registry, t } = setup();
    const ids = ["00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"];
    for (const id of ids) t.l7Request(kafka(false, { apiVersion: 13, topics: [`<unknown-topic-id:${id}>`], errorCode: 100 }));
    expect(await readMetric(registry, "hubble_kafka_requests_total", { topic: "<unknown-topic-id>", api_key: "fetch", error_code: "100" })).toBe(2);
    const series = (await registry.getSingleMetric("hubble_kafka_requests_total")!.get()).values;
    expect(series.filter((v) => String(v.labels.topic).startsWith("<unknown-topic-id"))).toHaveLength(1);
    expect(t.flows.recent().map((r) => (r.kafka as { topics: string[] } | undefined)?.topics[0])).toEqual(expect.arrayContaining(ids.map((id) => `<unknown-topic-id:${id}>`)));
  });

  it("writes the kafka part of flow records, and observe prints it", () => {
    const { t } = setup();
    t.l7Request(kafka(false));
    const rec: FlowRecord = t.flows.recent()[0]!;
    expect(rec.verdict).toBe("DROPPED");
    expect(rec.kafka).toEqual({ apiKey: "fetch", apiVersion: 11, correlationId: 9, clientId: "rdkafka", topics: ["deathstar-plans"], errorCode: 29, latency: { proxySeconds: 0.0002, upstreamSeconds: null } });
    expect(formatFlowLine(rec, { color: false })).toMatch(/^DROPPED +default\/tiefighter -> default\/deathstar-1:9092 +kafka fetch deathstar-plans 29 +policy default-deny/);
  });
});
