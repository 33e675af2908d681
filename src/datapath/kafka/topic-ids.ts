// Topic ID -> name, learned from the Metadata responses (v10+) the proxy forwards, so that
// requests naming topics only by ID (Fetch v13+, Metadata by ID) can be decided on names.
// An ID the table does not know is decided as a topic no rule can name, so topic rules deny
// it (fail closed). Bounded: the oldest entries go first. An ID that two responses map to
// different names is never trusted again (a broker cannot be made to lend one topic's ID to
// another by a second, lying Metadata answer).

const CONFLICT = "\0conflict";

export class TopicIdTable {
  private readonly names = new Map<string, string>();
  /** How many lookups found no name (reported in telemetry and the design note). */
  unknownLookups = 0;

  constructor(private readonly maxEntries: number) {}

  learn(id: string, name: string): void {
    if (id === "0".repeat(32) || name === "") return;
    const had = this.names.get(id);
    if (had === name || had === CONFLICT) return;
    if (had !== undefined) {
      this.names.set(id, CONFLICT);
      return;
    }
    if (this.names.size >= this.maxEntries) {
      const oldest = this.names.keys().next().value;
      if (oldest !== undefined) this.names.delete(oldest);
    }
    this.names.set(id, name);
  }

  /** The name, or a placeholder that is not a valid topic name (no rule can allow it). */
  resolve(id: string): { name: string; known: boolean } {
    const n = this.names.get(id);
    if (n === undefined || n === CONFLICT) {
      this.unknownLookups++;
      return { name: unknownTopicId(id), known: false };
    }
    return { name: n, known: true };
  }

  get size(): number {
    return this.names.size;
  }
}

/** What an unknown ID is decided and recorded as: '<' and ':' are not topic characters. */
export function unknownTopicId(id: string): string {
  return `<unknown-topic-id:${id}>`;
}

/** The one table of the process: IDs are cluster-wide, and a client learns them on any broker. */
export const TOPIC_IDS = new TopicIdTable(65_536);
