// Topic ID -> name, learned from the Metadata responses (v10+) the proxy forwards, so that
// requests naming topics only by ID (Fetch v13+, Produce v13, Metadata by ID) can be decided
// on names. An ID the table does not know is decided as a topic no rule can name, so topic
// rules deny it (fail closed); a Fetch or Produce refused for that alone is answered
// UNKNOWN_TOPIC_ID, as a broker answers an ID it does not know, so the client asks Metadata
// again and the proxy learns the ID from the answer (denied-reply.ts). The table outlives a
// restart in --state-dir (control/topic-id-state.ts).
//
// Scoped by broker cluster: what a Metadata answer teaches is trusted only for requests to
// destinations of the same scope (topicIdScope: the destination's security identity), so a
// destination that is not the real cluster (another pod the client may reach on a Kafka
// port) cannot lend the real cluster's IDs other names. The brokers of one cluster share
// their identity, so a client that learns IDs on one broker and fetches from another is
// served. Within a scope, an ID that two answers map to different names is never trusted
// again (a second, lying Metadata answer cannot re-point it).
//
// Bounded: at most `maxEntries` IDs across all scopes (the least recently taught goes first)
// and at most `maxScopes` scopes (the least recently taught goes first, with its IDs).

import type { Peer } from "../../policy/decision.js";

/** What an ID two answers of one scope named differently resolves to: nothing. */
const CONFLICT = "\0conflict";
const NULL_ID = "0".repeat(32);

/** One learned mapping, or (name null) an ID distrusted after conflicting answers. */
export interface TopicIdEntry {
  scope: string;
  id: string;
  name: string | null;
}

export class TopicIdTable {
  /** scope -> (id -> name or CONFLICT); both maps ordered oldest first. */
  private readonly scopes = new Map<string, Map<string, string>>();
  /** Every entry as `${scope}\n${id}`, oldest first: what the entry bound evicts. */
  private readonly order = new Map<string, true>();
  /** How many lookups found no name (reported in telemetry and the design note). */
  unknownLookups = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxScopes: number,
  ) {}

  /**
   * Learns what a Metadata answer in `scope` said of one topic. Returns the entry when the
   * table changed (a new mapping, or, name null, a mapping now distrusted), else null; a
   * repeated mapping only refreshes its age.
   */
  learn(scope: string, id: string, name: string): TopicIdEntry | null {
    if (id === NULL_ID || name === "" || !this.fits(scope, id)) return null;
    const had = this.scopes.get(scope)?.get(id);
    if (had === CONFLICT) return null;
    if (had === name) {
      this.put(scope, id, name);
      return null;
    }
    const now = had === undefined ? name : CONFLICT;
    this.put(scope, id, now);
    return { scope, id, name: now === CONFLICT ? null : name };
  }

  /** Applies an entry another process learned (the same rules as learn). True when the table changed. */
  apply(e: TopicIdEntry): boolean {
    return this.applied(e) !== null;
  }

  /** As apply; the entry as the table now holds it (name null: distrusted) when it changed, else null. */
  applied(e: TopicIdEntry): TopicIdEntry | null {
    if (typeof e.scope !== "string" || typeof e.id !== "string" || (e.name !== null && typeof e.name !== "string")) return null;
    if (typeof e.name === "string") return this.learn(e.scope, e.id, e.name);
    if (e.id === NULL_ID || !this.fits(e.scope, e.id) || this.scopes.get(e.scope)?.get(e.id) === CONFLICT) return null;
    this.put(e.scope, e.id, CONFLICT);
    return { scope: e.scope, id: e.id, name: null };
  }

  /** The name `id` has for destinations of `scope`, or a placeholder no rule can allow. */
  resolve(scope: string, id: string): { name: string; known: boolean } {
    const n = this.scopes.get(scope)?.get(id);
    if (n === undefined || n === CONFLICT) {
      this.unknownLookups++;
      return { name: unknownTopicId(id), known: false };
    }
    return { name: n, known: true };
  }

  /** Every entry, oldest first (what a process starting beside this one is given). */
  entries(): TopicIdEntry[] {
    const out: TopicIdEntry[] = [];
    for (const key of this.order.keys()) {
      const cut = key.lastIndexOf("\n");
      const scope = key.slice(0, cut);
      const id = key.slice(cut + 1);
      const name = this.scopes.get(scope)!.get(id)!;
      out.push({ scope, id, name: name === CONFLICT ? null : name });
    }
    return out;
  }

  /** Entries across all scopes. */
  get size(): number {
    return this.order.size;
  }

  get scopeCount(): number {
    return this.scopes.size;
  }

  /** Scope keys come from the policy engine, IDs from the decoder: both are checked all the same. */
  private fits(scope: string, id: string): boolean {
    return scope.length > 0 && !scope.includes("\n") && id.length === 32 && !id.includes("\n");
  }

  /** Sets one entry as the newest, in the newest scope, within the bounds. */
  private put(scope: string, id: string, name: string): void {
    let ids = this.scopes.get(scope);
    if (ids === undefined) {
      while (this.scopes.size >= this.maxScopes) this.dropScope(this.scopes.keys().next().value!);
      ids = new Map();
    }
    const key = `${scope}\n${id}`;
    if (!ids.has(id)) {
      while (this.order.size >= this.maxEntries) this.dropOldestEntry();
    }
    // (The scope may have lost its last entry to the bound just now: it is set again here.)
    this.order.delete(key);
    this.order.set(key, true);
    ids.delete(id);
    ids.set(id, name);
    this.scopes.delete(scope);
    this.scopes.set(scope, ids);
  }

  private dropOldestEntry(): void {
    const key = this.order.keys().next().value!;
    this.order.delete(key);
    const cut = key.lastIndexOf("\n");
    const scope = key.slice(0, cut);
    const ids = this.scopes.get(scope)!;
    ids.delete(key.slice(cut + 1));
    if (ids.size === 0) this.scopes.delete(scope);
  }

  private dropScope(scope: string): void {
    for (const id of this.scopes.get(scope)!.keys()) this.order.delete(`${scope}\n${id}`);
    this.scopes.delete(scope);
  }
}

/** What an unknown ID is decided and recorded as: '<' and ':' are not topic characters. */
export function unknownTopicId(id: string): string {
  return `${UNKNOWN_PREFIX}${id}>`;
}

const UNKNOWN_PREFIX = "<unknown-topic-id:";

/**
 * A topic as a metric label: every unknown ID is one label value, so IDs a client makes up
 * cannot grow the series without bound (flow records keep the ID).
 */
export function topicLabel(topic: string): string {
  return topic.startsWith(UNKNOWN_PREFIX) ? "<unknown-topic-id>" : topic;
}

/** The flow record's note on a request refused for naming IDs the proxy has not learned. */
export function unknownIdNote(ids: readonly string[]): string {
  const shown = ids.length <= 4 ? ids.join(", ") : `${ids.slice(0, 4).join(", ")} and ${ids.length - 4} more`;
  return `unknown topic ID${ids.length === 1 ? "" : "s"} ${shown}: answered UNKNOWN_TOPIC_ID (100) until a Metadata answer through the proxy names ${ids.length === 1 ? "it" : "them"}`;
}

/**
 * The scope of the topic IDs a connection to `destination` learns and uses: its security
 * identity when it is an endpoint (the brokers of one cluster share their labels), else its
 * address alone (nothing says two addresses outside the cluster are one Kafka cluster).
 * Plain mode (--upstream) has one destination, so one scope.
 */
export function topicIdScope(destination: Peer): string {
  const ep = destination.endpoint;
  if (ep === undefined) return `address ${destination.ip}`;
  // Without the snapshot's identity: the namespace and every label (finer, never coarser).
  const identity = ep.identity ?? JSON.stringify([ep.namespace, ...Object.entries(ep.labels).map(([k, v]) => `${k}=${v}`).sort()]);
  return `identity ${identity}`;
}

/** How many IDs and scopes one process keeps. */
export const TOPIC_ID_LIMITS = { maxEntries: 65_536, maxScopes: 1_024 } as const;

/** A process's table, and how what it learns reaches the other processes serving the port. */
export interface TopicIdRuntime {
  readonly table: TopicIdTable;
  /**
   * Called with what one Metadata answer newly taught. The answer is held from the client
   * until the promise settles (then every process knows the IDs: the client's next
   * connection may land on any of them); null: nothing to wait for.
   */
  share(entries: readonly TopicIdEntry[]): Promise<void> | null;
}

/** A single process's: one table, nobody else to tell. */
export function localTopicIds(): TopicIdRuntime {
  return { table: new TopicIdTable(TOPIC_ID_LIMITS.maxEntries, TOPIC_ID_LIMITS.maxScopes), share: () => null };
}
