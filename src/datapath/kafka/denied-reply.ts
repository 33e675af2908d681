// What a denied Kafka request gets: the response a broker would send had it refused the
// request itself, at the request's version, header version and correlation id (templates:
// Kafka's <Api>Request.getErrorResponse and its authorizer's answers; see
// ../shared/reference/wave2-protocols.md §2.3). Topic APIs carry 29 on every topic and
// partition the request named; group APIs carry 30 in their own error fields. A denied
// acks=0 Produce expects no response, so the connection is closed (as a broker does, so the
// producer notices and refreshes its metadata); so is a denied request of an API that has no
// error shape here.
//
// A Fetch v13+ or Produce v13 that policy could allow but that names a topic ID the proxy has
// not learned (a freshly started proxy, before any Metadata answer taught it) is refused with
// the error a broker gives an ID it does not know, UNKNOWN_TOPIC_ID (100), on every partition:
// clients treat it as retriable and refresh their metadata, through the proxy, which learns
// the ID from that answer. 29 there would be fatal to a Java consumer
// (TopicAuthorizationException) for a topic it may well be allowed to read.

import type { L7Verdict } from "../../policy/decision.js";
import { encodeResponse } from "./frames.js";
import type { KafkaStruct, KafkaValue } from "./message-reader.js";
import type { KafkaRequest } from "./request-decoder.js";

export const TOPIC_AUTHORIZATION_FAILED = 29;
export const GROUP_AUTHORIZATION_FAILED = 30;
export const CLUSTER_AUTHORIZATION_FAILED = 31;
export const TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53;
export const UNKNOWN_TOPIC_ID = 100;

export type KafkaDenial =
  | { kind: "reply"; frame: Buffer; errorCode: number }
  | { kind: "close"; errorCode: number };

function list(v: KafkaValue | undefined): KafkaStruct[] {
  return Array.isArray(v) ? (v as KafkaStruct[]) : [];
}

type Builder = (b: KafkaStruct, v: number) => { body: KafkaStruct; errorCode: number } | null;

const T = TOPIC_AUTHORIZATION_FAILED;
const G = GROUP_AUTHORIZATION_FAILED;

/** Produce with `code` on every partition (a broker's PartitionResponse(error)); null for acks=0. */
function produceError(b: KafkaStruct, code: number): { body: KafkaStruct; errorCode: number } | null {
  if (b.Acks === 0) return null;
  const Responses = list(b.TopicData).map((t) => ({
    Name: t.Name ?? "",
    TopicId: t.TopicId ?? null,
    PartitionResponses: list(t.PartitionData).map((p) => ({ Index: p.Index ?? 0, ErrorCode: code, BaseOffset: -1n, LogAppendTimeMs: -1n, LogStartOffset: -1n })),
  }));
  return { body: { Responses }, errorCode: code };
}

/**
 * Fetch v13+ with UNKNOWN_TOPIC_ID on every partition and no top-level error, as a broker
 * answers IDs it does not know (FetchResponse.partitionResponse(tp, UNKNOWN_TOPIC_ID): high
 * watermark -1, no records). Session 0: no fetch session is created or kept.
 */
function fetchUnknownTopicIds(b: KafkaStruct): { body: KafkaStruct; errorCode: number } {
  const Responses = list(b.Topics).map((t) => ({
    TopicId: t.TopicId ?? null,
    Partitions: list(t.Partitions).map((p) => ({ PartitionIndex: p.Partition ?? 0, ErrorCode: UNKNOWN_TOPIC_ID, HighWatermark: -1n, LastStableOffset: -1n, LogStartOffset: -1n, PreferredReadReplica: -1, Records: null })),
  }));
  return { body: { ErrorCode: 0, SessionId: 0, Responses }, errorCode: UNKNOWN_TOPIC_ID };
}

const BUILDERS: Readonly<Record<number, Builder>> = {
  0: (b) => produceError(b, T),
  1: (b, v) => {
    // v13+ names topics by ID and answers a failed request with the top-level error only.
    if (v >= 13) return { body: { ErrorCode: T, SessionId: 0, Responses: [] }, errorCode: T };
    const Responses = list(b.Topics).map((t) => ({
      Topic: t.Topic ?? "",
      Partitions: list(t.Partitions).map((p) => ({ PartitionIndex: p.Partition ?? 0, ErrorCode: T, HighWatermark: -1n, LastStableOffset: -1n, LogStartOffset: -1n, AbortedTransactions: null, PreferredReadReplica: -1, Records: null })),
    }));
    // Session 0: no fetch session is created or kept for a request the broker never saw.
    return { body: { ErrorCode: 0, SessionId: 0, Responses }, errorCode: T };
  },
  2: (b) => {
    const Topics = list(b.Topics).map((t) => ({
      Name: t.Name ?? "",
      Partitions: list(t.Partitions).map((p) => ({ PartitionIndex: p.PartitionIndex ?? 0, ErrorCode: T, OldStyleOffsets: [], Timestamp: -1n, Offset: -1n, LeaderEpoch: -1 })),
    }));
    return { body: { Topics }, errorCode: T };
  },
  3: (b) => {
    // Named topics come back with 29 and no partitions; "all topics" names none. No brokers:
    // the client learns nothing about the cluster from a denied request.
    const Topics = list(b.Topics).map((t) => ({ ErrorCode: T, Name: t.Name ?? "", TopicId: t.TopicId ?? null, IsInternal: false, Partitions: [] }));
    return { body: { Brokers: [], ControllerId: -1, ClusterId: null, Topics }, errorCode: T };
  },
  8: (b) => {
    const Topics = list(b.Topics).map((t) => ({
      Name: t.Name ?? "",
      Partitions: list(t.Partitions).map((p) => ({ PartitionIndex: p.PartitionIndex ?? 0, ErrorCode: T })),
    }));
    return { body: { Topics }, errorCode: T };
  },
  9: (b, v): ReturnType<Builder> => {
    const topics = (ts: KafkaValue | undefined): KafkaStruct[] =>
      list(ts).map((t) => ({
        Name: t.Name ?? "",
        Partitions: (Array.isArray(t.PartitionIndexes) ? t.PartitionIndexes : []).map((i) => ({ PartitionIndex: i, CommittedOffset: -1n, CommittedLeaderEpoch: -1, Metadata: "", ErrorCode: T })),
      }));
    if (v >= 8) return { body: { Groups: list(b.Groups).map((g) => ({ GroupId: g.GroupId ?? "", Topics: topics(g.Topics), ErrorCode: T })) }, errorCode: T };
    // v2-7 also have a top-level error: set it, so a client reading either one sees the denial.
    return { body: { Topics: topics(b.Topics), ErrorCode: T }, errorCode: T };
  },
  10: (b, v): ReturnType<Builder> => {
    const code = b.KeyType === 1 ? TRANSACTIONAL_ID_AUTHORIZATION_FAILED : G;
    const message = code === G ? "Group authorization failed." : "Transactional Id authorization failed.";
    if (v >= 4) {
      const keys = Array.isArray(b.CoordinatorKeys) ? b.CoordinatorKeys : [];
      return { body: { Coordinators: keys.map((k) => ({ Key: k, NodeId: -1, Host: "", Port: -1, ErrorCode: code, ErrorMessage: message })) }, errorCode: code };
    }
    return { body: { ErrorCode: code, ErrorMessage: message, NodeId: -1, Host: "", Port: -1 }, errorCode: code };
  },
  11: (_b, v) => ({ body: { ErrorCode: G, GenerationId: -1, ProtocolName: v >= 7 ? null : "", Leader: "", MemberId: "", Members: [] }, errorCode: G }),
  12: () => ({ body: { ErrorCode: G }, errorCode: G }),
  13: () => ({ body: { ErrorCode: G, Members: [] }, errorCode: G }),
  14: () => ({ body: { ErrorCode: G, Assignment: Buffer.alloc(0) }, errorCode: G }),
  18: () => ({ body: { ErrorCode: CLUSTER_AUTHORIZATION_FAILED, ApiKeys: [] }, errorCode: CLUSTER_AUTHORIZATION_FAILED }),
};

/** The versions whose requests name topics by ID (Fetch v13+, Produce v13), where an unknown ID is answered 100. */
export function namesTopicsById(apiKey: number, apiVersion: number): boolean {
  return (apiKey === 0 || apiKey === 1) && apiVersion >= 13;
}

/** API keys answered with an error response (the others are closed). */
export const ANSWERED_API_KEYS: readonly number[] = Object.keys(BUILDERS).map(Number);

/** The DenyResponder for Kafka: the verdict does not change the answer (every denial is alike). */
export const kafkaDenyResponder = {
  deny(req: KafkaRequest, _verdict: L7Verdict): KafkaDenial {
    const build = BUILDERS[req.apiKey];
    const r = build === undefined ? null : build(req.body, req.apiVersion);
    if (r === null) return { kind: "close", errorCode: req.topicNames.length + req.topicIds.length > 0 || req.apiKey === 0 ? T : CLUSTER_AUTHORIZATION_FAILED };
    return { kind: "reply", frame: encodeResponse(req.apiKey, req.apiVersion, req.correlationId, r.body), errorCode: r.errorCode };
  },

  /**
   * The answer to a request refused only because it names topic IDs the proxy has not
   * learned: UNKNOWN_TOPIC_ID for the versions that name topics by ID (Fetch v13+, Produce
   * v13; an acks=0 Produce is closed), the ordinary denial for anything else.
   */
  unknownTopicIds(req: KafkaRequest, verdict: L7Verdict): KafkaDenial {
    if (!namesTopicsById(req.apiKey, req.apiVersion)) return kafkaDenyResponder.deny(req, verdict);
    const r = req.apiKey === 1 ? fetchUnknownTopicIds(req.body) : produceError(req.body, UNKNOWN_TOPIC_ID);
    if (r === null) return { kind: "close", errorCode: UNKNOWN_TOPIC_ID };
    return { kind: "reply", frame: encodeResponse(req.apiKey, req.apiVersion, req.correlationId, r.body), errorCode: r.errorCode };
  },
};
