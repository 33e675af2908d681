// Kafka rule values as Cilium 1.19's PortRuleKafka sanitize accepts them (see
// ../shared/reference/cilium-l7-semantics.md §2.2): plural API key names, or numbers.

/** Kafka API key names Cilium knows (APIKeyMap), indexed by their number. */
export const KAFKA_API_KEY_NAMES: readonly string[] = [
  "produce", "fetch", "offsets", "metadata", "leaderandisr", "stopreplica", "updatemetadata",
  "controlledshutdown", "offsetcommit", "offsetfetch", "findcoordinator", "joingroup", "heartbeat",
  "leavegroup", "syncgroup", "describegroups", "listgroups", "saslhandshake", "apiversions",
  "createtopics", "deletetopics", "deleterecords", "initproducerid", "offsetforleaderepoch",
  "addpartitionstotxn", "addoffsetstotxn", "endtxn", "writetxnmarkers", "txnoffsetcommit",
  "describeacls", "createacls", "deleteacls", "describeconfigs", "alterconfigs",
];

/** The API key number for a name (case-insensitive) or a decimal number; undefined if unknown. */
export function kafkaApiKeyNumber(text: string): number | undefined {
  if (/^\d{1,5}$/.test(text)) {
    const n = Number(text);
    return n <= 32767 ? n : undefined;
  }
  const i = KAFKA_API_KEY_NAMES.indexOf(text.toLowerCase());
  return i < 0 ? undefined : i;
}

export const KAFKA_MAX_TOPIC_LENGTH = 255;
// Cilium's TopicValidChar, read as Go compiles it: the raw-string `\\` also admits a backslash.
export const KAFKA_TOPIC_CHARS = /^[a-zA-Z0-9._\\-]+$/;
