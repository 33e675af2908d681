// Kafka topic values as Cilium 1.19's PortRuleKafka sanitize accepts them (see
// ../shared/reference/cilium-l7-semantics.md §2.2). API keys, roles and versions are in the
// one table the matcher also uses (src/policy/match/kafka/api-keys.ts).

export const KAFKA_MAX_TOPIC_LENGTH = 255;
// Cilium's TopicValidChar, read as Go compiles it: the raw-string `\\` also admits a backslash.
export const KAFKA_TOPIC_CHARS = /^[a-zA-Z0-9._\\-]+$/;
