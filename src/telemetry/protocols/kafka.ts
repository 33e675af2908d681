// Kafka's telemetry: Hubble's Kafka request counts and durations (topic, api_key,
// error_code), and the `kafka` part of flow records.

import { UNKNOWN_TOPIC_ID } from "../../datapath/kafka/denied-reply.js";
import { topicLabel } from "../../datapath/kafka/topic-ids.js";
import type { KafkaDetail, L7Exchange } from "../../datapath/observer.js";
import { kafkaApiKeyName as tableName } from "../../policy/match/kafka/api-keys.js";
import type { FlowRecord } from "../flow-record.js";
import type { CounterCell, HistogramCell } from "../metric-cells.js";
import type { L7ProxyMetrics } from "../metrics.js";
import type { PairCells } from "../pair-cells.js";
import { REPORTERS, type CountContext, type ProtocolMetrics, type ProtocolRecord, type ProtocolTelemetry } from "./protocol-telemetry.js";

export interface FlowKafka {
  apiKey: string;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  topics: string[];
  errorCode: number;
  latency: { proxySeconds: number; upstreamSeconds: number | null };
}

const SLOT = 1;
const NO_TOPIC = [""];

/** Cilium's name of an API key (its rules' spelling), or the number for keys past 33. */
export function kafkaApiKeyName(key: number): string {
  return tableName(key) ?? String(key);
}

class KafkaPairCells {
  /** [reporter] -> "topic\0apiKey\0error" -> cell */
  readonly requests: [Map<string, CounterCell>, Map<string, CounterCell>] = [new Map(), new Map()];
  /** [reporter] -> "topic\0apiKey" -> [proxy, upstream] */
  readonly durations: [Map<string, [HistogramCell, HistogramCell]>, Map<string, [HistogramCell, HistogramCell]>] = [new Map(), new Map()];
}

class KafkaMetrics implements ProtocolMetrics<KafkaDetail> {
  readonly #unknownIds = new Map<string, CounterCell>();

  constructor(private readonly m: L7ProxyMetrics) {}

  count(ex: L7Exchange<KafkaDetail>, ctx: CountContext): void {
    const d = ex.detail;
    // Only the proxy's own answers carry an error code here (0 when the broker answered).
    if (d.errorCode === UNKNOWN_TOPIC_ID) this.unknownIds(kafkaApiKeyName(d.apiKey)).inc();
    const cells = (ctx.pair.slots[SLOT] ??= new KafkaPairCells()) as KafkaPairCells;
    const apiKey = kafkaApiKeyName(d.apiKey);
    for (const name of d.topics.length === 0 ? NO_TOPIC : d.topics) {
      const topic = topicLabel(name);
      this.request(ctx.pair, cells, ctx.reporter, topic, apiKey, d.errorCode).inc();
      const [proxy, upstream] = this.duration(ctx.pair, cells, ctx.reporter, topic, apiKey);
      proxy.observe(ex.proxyLatencySeconds);
      if (ex.upstreamLatencySeconds !== undefined) upstream.observe(ex.upstreamLatencySeconds);
    }
  }

  private unknownIds(apiKey: string): CounterCell {
    let cell = this.#unknownIds.get(apiKey);
    if (cell === undefined) {
      cell = this.m.kafkaUnknownTopicIdDenialsTotal.bind(apiKey);
      this.#unknownIds.set(apiKey, cell);
    }
    return cell;
  }

  private request(pair: PairCells, c: KafkaPairCells, reporter: 0 | 1, topic: string, apiKey: string, error: number): CounterCell {
    const key = `${topic}\0${apiKey}\0${error}`;
    let cell = c.requests[reporter].get(key);
    if (cell === undefined) {
      cell = this.m.hubbleKafkaRequestsTotal.bind(topic, apiKey, String(error), REPORTERS[reporter], ...pair.context, ...pair.pods);
      c.requests[reporter].set(key, cell);
    }
    return cell;
  }

  private duration(pair: PairCells, c: KafkaPairCells, reporter: 0 | 1, topic: string, apiKey: string): [HistogramCell, HistogramCell] {
    const key = `${topic}\0${apiKey}`;
    let cells = c.durations[reporter].get(key);
    if (cells === undefined) {
      const h = this.m.hubbleKafkaRequestDurationSeconds;
      const r = REPORTERS[reporter];
      cells = [h.bind(topic, apiKey, r, "proxy", ...pair.context, ...pair.pods), h.bind(topic, apiKey, r, "upstream", ...pair.context, ...pair.pods)];
      c.durations[reporter].set(key, cells);
    }
    return cells;
  }
}

export function kafkaPart(ex: L7Exchange<KafkaDetail>): FlowKafka {
  const d = ex.detail;
  return {
    apiKey: kafkaApiKeyName(d.apiKey),
    apiVersion: d.apiVersion,
    correlationId: d.correlationId,
    clientId: d.clientId,
    topics: d.topics,
    errorCode: d.errorCode,
    latency: { proxySeconds: ex.proxyLatencySeconds, upstreamSeconds: ex.upstreamLatencySeconds ?? null },
  };
}

const record: ProtocolRecord<KafkaDetail> = {
  part: kafkaPart,
  summary(rec: FlowRecord, paint) {
    const k = rec.kafka as FlowKafka | undefined;
    if (k === undefined) return rec.protocol;
    const topics = k.topics.length === 0 ? "" : ` ${k.topics.join(",")}`;
    const code = k.errorCode === 0 ? paint("good", "0") : paint("bad", String(k.errorCode));
    return `kafka ${k.apiKey}${topics} ${code}`;
  },
};

export const kafkaTelemetry: ProtocolTelemetry<KafkaDetail> = {
  protocol: "kafka",
  slot: SLOT,
  record,
  metrics: (m) => new KafkaMetrics(m),
};
