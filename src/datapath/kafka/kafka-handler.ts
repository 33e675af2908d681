// Kafka behind the protocol seam: runs a Kafka session on the connection, decides each
// request with the connection's policy binding, and reports each one as an L7 record.

import type { KafkaDetail, L7Exchange } from "../observer.js";
import type { ConnectionHandle, L7Connection, ProtocolHandler } from "../protocol-handler.js";
import { KafkaSession, type KafkaExchangeReport } from "./kafka-session.js";
import { TOPIC_IDS } from "./topic-ids.js";

export function startKafka(conn: L7Connection): ConnectionHandle {
  const { binding, observer, config } = conn;
  const session = new KafkaSession(
    {
      client: conn.client,
      connectUpstream: () => conn.connectUpstream(),
      decide: (facts) => binding.decideKafka(facts),
      report: (ex: KafkaExchangeReport) => {
        const detail: KafkaDetail = {
          protocol: "kafka",
          apiKey: ex.apiKey,
          apiVersion: ex.apiVersion,
          correlationId: ex.correlationId,
          clientId: ex.clientId,
          topics: ex.topics,
          errorCode: ex.errorCode,
        };
        const rec: L7Exchange<KafkaDetail> = {
          flow: binding.flow,
          query: conn.query,
          verdict: ex.verdict,
          proxyLatencySeconds: ex.proxyLatencySeconds,
          upstreamLatencySeconds: ex.upstreamLatencySeconds,
          startedAtMs: ex.startedAtMs,
          detail,
        };
        observer.l7Request(rec);
      },
      parseError: (code) => observer.parseError(code),
      connectionError: (code, detail) => observer.connectionError(code, detail),
      draining: () => conn.draining(),
    },
    {
      maxFrameBytes: config.kafkaMaxFrameBytes,
      maxPipelined: config.maxPipelined,
      idleTimeoutMs: config.idleTimeoutMs,
      topicIds: TOPIC_IDS,
    },
  );
  return { drain: () => session.drain() };
}

export const kafkaHandler: ProtocolHandler = { protocol: "kafka", start: startKafka };
