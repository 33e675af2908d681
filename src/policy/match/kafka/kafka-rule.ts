// Kafka L7 rules as Cilium's proxylib evaluated them (cilium/proxy pkg/policy/api/kafka and
// proxylib/kafka/kafkalib/policy.go, read at the last version that had Kafka, 1.19-dev):
// - `role: produce|consume` expands to a fixed set of API keys, `apiKey` to one key;
// - `apiVersion` is an exact match, `clientID` an exact match, both optional;
// - `topic` is checked only for topic-carrying API keys. Each matching rule removes its topic
//   from the request's set, and a rule "matches" only once that set is empty, so every topic
//   of a request must be covered, possibly by several rules.

import type { PortRuleKafka } from "../../api/types.js";
import { ruleApiKey, ruleApiVersion, ruleRoleKeys } from "./api-keys.js";

/** API keys whose requests name topics (isTopicAPIKey). */
const TOPIC_API_KEYS = new Set([0, 1, 2, 3, 4, 5, 6, 8, 9, 19, 20, 21, 23, 24, 27, 28, 34, 35, 37]);
/** Of those, the only ones proxylib decoded topics for; the others always have an empty set. */
const TOPICS_DECODED = new Set([0, 1, 2, 3, 8, 9]);

export interface KafkaMatcher {
  /** null = every API key. An empty set (an unknown key or role) matches nothing. */
  apiKeys: ReadonlySet<number> | null;
  /** -1 = any version. */
  apiVersion: number;
  clientId: string;
  topic: string;
}

export function compileKafkaRule(rule: PortRuleKafka): KafkaMatcher {
  let apiKeys: Set<number> | null = null;
  // What validation refuses (an unknown key, role or version) matches nothing here: fail closed.
  if (rule.role !== undefined && rule.role !== "") {
    apiKeys = new Set(ruleRoleKeys(rule.role) ?? []);
  } else if (rule.apiKey !== undefined && rule.apiKey !== "") {
    const k = ruleApiKey(rule.apiKey);
    apiKeys = new Set(k === undefined ? [] : [k]);
  }
  const version = rule.apiVersion === undefined || rule.apiVersion === "" ? -1 : ruleApiVersion(rule.apiVersion) ?? -2;
  return {
    apiKeys,
    apiVersion: version,
    clientId: rule.clientID ?? "",
    topic: rule.topic ?? "",
  };
}

/** The mutable topic set shared by all rules deciding one request on one side. */
export function requestTopicSet(apiKey: number, topics: readonly string[] | null): Set<string> {
  if (!TOPICS_DECODED.has(apiKey) || topics === null) return new Set();
  return new Set(topics);
}

export function kafkaRuleMatches(
  m: KafkaMatcher,
  req: { apiKey: number; apiVersion: number; clientId: string | null },
  remainingTopics: Set<string>,
): boolean {
  if (m.apiKeys !== null && !m.apiKeys.has(req.apiKey)) return false;
  if (m.apiVersion !== -1 && m.apiVersion !== req.apiVersion) return false;
  if (m.clientId !== "" && m.clientId !== (req.clientId ?? "")) return false;
  if (m.topic === "" || !TOPIC_API_KEYS.has(req.apiKey)) return true;
  if (!remainingTopics.has(m.topic)) return false;
  remainingTopics.delete(m.topic);
  return remainingTopics.size === 0;
}
