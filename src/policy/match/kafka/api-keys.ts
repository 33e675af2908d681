// Kafka API keys and roles as Cilium's PortRuleKafka defines them (APIKeyMap, GetAPIKeys and
// Sanitize in pkg/policy/api/kafka, read at Cilium 1.19, the last release with Kafka rules;
// ../shared/reference/cilium-l7-semantics.md §2.2-2.3). Validation and the matcher both read
// these, so a rule the validator accepts is the rule the matcher enforces.

/** `apiKey` names Cilium accepts in a rule (keys 0-33), in lower case, by number. */
const API_KEY_NAMES = [
  "produce", "fetch", "offsets", "metadata", "leaderandisr", "stopreplica", "updatemetadata",
  "controlledshutdown", "offsetcommit", "offsetfetch", "findcoordinator", "joingroup", "heartbeat",
  "leavegroup", "syncgroup", "describegroups", "listgroups", "saslhandshake", "apiversions",
  "createtopics", "deletetopics", "deleterecords", "initproducerid", "offsetforleaderepoch",
  "addpartitionstotxn", "addoffsetstotxn", "endtxn", "writetxnmarkers", "txnoffsetcommit",
  "describeacls", "createacls", "deleteacls", "describeconfigs", "alterconfigs",
] as const;

const BY_NAME: ReadonlyMap<string, number> = new Map(API_KEY_NAMES.map((n, i) => [n, i]));

/** The API keys a `role` expands to (GetAPIKeys). */
export const KAFKA_ROLE_KEYS: Readonly<Record<"produce" | "consume", readonly number[]>> = Object.freeze({
  produce: Object.freeze([0, 3, 18]),
  consume: Object.freeze([1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18]),
});

/** Largest API key or version a request can carry (both are non-negative int16). */
export const KAFKA_MAX_INT16 = 32767;

/**
 * The key of a rule's `apiKey`: a name of the table, in any case, as Sanitize accepts it.
 * Numbers are not names: Cilium refuses `apiKey: "19"`, and so does l7proxy.
 */
export function ruleApiKey(text: string): number | undefined {
  return BY_NAME.get(text.toLowerCase());
}

/** The keys of a rule's `role` (case-insensitive); undefined for another role. */
export function ruleRoleKeys(role: string): readonly number[] | undefined {
  const lower = role.toLowerCase();
  return lower === "produce" || lower === "consume" ? KAFKA_ROLE_KEYS[lower] : undefined;
}

/** A rule's `apiVersion`, as Go's strconv.ParseInt(text, 10, 16) with n >= 0 reads it. */
export function ruleApiVersion(text: string): number | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 0 && n <= KAFKA_MAX_INT16 ? Math.abs(n) : undefined;
}

/** A request's API key given by a person (`check --kafka-api-key`): a table name or 0..32767. */
export function requestApiKey(text: string): number | undefined {
  if (/^\d{1,5}$/.test(text)) {
    const n = Number(text);
    return n <= KAFKA_MAX_INT16 ? n : undefined;
  }
  return ruleApiKey(text);
}

/** The table's name for a key, for messages; undefined for keys past the table. */
export function kafkaApiKeyName(key: number): string | undefined {
  return API_KEY_NAMES[key];
}
