// Kafka behind the protocol seam: runs a Kafka session on the connection, decides each
// request with the connection's policy binding, and reports each one as an L7 record.

import type { KafkaDetail, L7Exchange } from "../observer.js";
import type { ConnectionHandle, L7Connection, ProtocolHandler } from "../protocol-handler.js";
import { KafkaSession, type KafkaExchangeReport } from "./kafka-session.js";
import type { FlowVerdict } from "../../policy/decision.js";
import { localTopicIds, topicIdScope } from "./topic-ids.js";

/** The table when the caller gave none (the proxy always gives one: control/topic-id-persistence.ts, topic-id-sync.ts). */
const LOCAL_TOPIC_IDS = localTopicIds();

export function startKafka(conn: L7Connection): ConnectionHandle {
  const { binding, observer, config } = conn;
  // The scope follows the flow's destination (a reload may re-decide it), computed once per verdict.
  let scopeOf: FlowVerdict | null = null;
  let scope = "";
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
      topicIdScope: () => {
        if (binding.flow !== scopeOf) {
          scopeOf = binding.flow;
          scope = topicIdScope(scopeOf.destination);
        }
        return scope;
      },
    },
    {
      maxFrameBytes: config.kafkaMaxFrameBytes,
      maxPipelined: config.maxPipelined,
      idleTimeoutMs: config.idleTimeoutMs,
      topicIds: conn.kafkaTopicIds ?? LOCAL_TOPIC_IDS,
    },
  );
  return { drain: () => session.drain() };
}

export const kafkaHandler: ProtocolHandler = { protocol: "kafka", start: startKafka };
