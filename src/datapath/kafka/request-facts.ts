// What the policy engine is told about a decoded request: its API key, version and client
// id, and the topics it touches by name, topic IDs resolved through the learned table in the
// scope of the connection's destination. An ID the table does not know there becomes a name
// no rule can match, so a topic rule denies it.

import type { KafkaRequestFacts } from "../../policy/decision.js";
import type { KafkaRequest } from "./request-decoder.js";
import type { TopicIdTable } from "./topic-ids.js";

export interface ResolvedFacts {
  facts: KafkaRequestFacts;
  /** The request's topic IDs the table did not know (their placeholders are in facts.topics). */
  unknownIds: string[];
  /** The topics the request names that are known: by name, or by an ID the table knows. */
  knownTopics: string[];
}

/** `scope`: the destination's topic-ID scope (topicIdScope), asked only for a request naming IDs. */
export function requestFacts(req: KafkaRequest, ids: TopicIdTable, scope: () => string): ResolvedFacts {
  const unknownIds: string[] = [];
  const knownTopics = [...req.topicNames];
  let topics: string[] | null = req.topicNames.length === 0 && req.topicIds.length === 0 ? [] : [...req.topicNames];
  const where = req.topicIds.length === 0 ? "" : scope();
  for (const id of req.topicIds) {
    const r = ids.resolve(where, id);
    if (r.known) knownTopics.push(r.name);
    else unknownIds.push(id);
    topics!.push(r.name);
  }
  // Metadata with a null topic list asks for every topic: it names none (Cilium's reading).
  if (req.apiKey === 3 && req.body.Topics === null) topics = null;
  return { facts: { apiKey: req.apiKey, apiVersion: req.apiVersion, clientId: req.clientId, topics }, unknownIds, knownTopics };
}
