// Kafka topic IDs across --workers processes. Each worker learns IDs from the Metadata
// answers it forwards (datapath/kafka/topic-ids.ts), but a client's next connection (a Fetch
// to another broker, or to the same one) may land on any worker: without this, a worker that
// never saw the Metadata answer would deny the Fetch as naming an unknown ID. So what one
// worker learns reaches every other before the answer that taught it is released to the
// client, and the primary keeps the union for workers that start later (a replacement).
//
// Over each worker's IPC channel (ordered):
//
//   worker  -> primary  kafka-ids-sync?                  at start, before listening
//   primary -> worker   kafka-ids-state {entries}        everything learned so far
//   worker  -> primary  kafka-ids-learn {id, entries}    what one Metadata answer taught it
//   primary -> worker   kafka-ids-update {seq, entries}  the same, to every other synced worker
//   worker  -> primary  kafka-ids-ack {seq}              applied: its next request sees them
//   primary -> worker   kafka-ids-learned {id}           in force everywhere (or the bound passed)
//
// An answer is held at most TOPIC_ID_HOLD_MS; a worker that does not ack in time is not
// waited for (counted, logged at most every 10 s), nor one that exits. Entries keep their
// scope (the destination identity that taught them) and conflicts travel as conflicts, so
// every process holds the same trust. With --state-dir the primary keeps the union on disk
// (topic-id-persistence.ts), read back before the workers start; an answer that taught
// something also waits for that write.

import type { Logger } from "pino";
import { TOPIC_ID_LIMITS, TopicIdTable, type TopicIdEntry, type TopicIdRuntime } from "../datapath/kafka/topic-ids.js";

/** The longest a Metadata answer waits for the other workers (IPC takes well under 1 ms). */
export const TOPIC_ID_HOLD_MS = 100;

export type TopicIdSyncMessage =
  | { type: "kafka-ids-sync?" }
  | { type: "kafka-ids-state"; entries: TopicIdEntry[] }
  | { type: "kafka-ids-learn"; id: number; entries: TopicIdEntry[] }
  | { type: "kafka-ids-update"; seq: number; entries: TopicIdEntry[] }
  | { type: "kafka-ids-ack"; seq: number }
  | { type: "kafka-ids-learned"; id: number };

const TYPES = new Set<string>(["kafka-ids-sync?", "kafka-ids-state", "kafka-ids-learn", "kafka-ids-update", "kafka-ids-ack", "kafka-ids-learned"]);

export function isTopicIdSyncMessage(m: unknown): m is TopicIdSyncMessage {
  return typeof m === "object" && m !== null && TYPES.has((m as { type?: unknown }).type as string);
}

/** Applies what came over IPC; anything not shaped as entries is ignored (table.apply checks each). */
function applyAll(table: TopicIdTable, entries: unknown): void {
  if (!Array.isArray(entries)) return;
  for (const e of entries) if (typeof e === "object" && e !== null) table.apply(e as TopicIdEntry);
}

/** One worker as the primary sees it. */
export interface TopicIdPeer {
  readonly label: string;
  send(m: TopicIdSyncMessage): void;
}

interface Pending {
  waiting: Set<TopicIdPeer>;
  done: () => void;
  timer: NodeJS.Timeout;
}

/** In the primary: the union of what the workers learned, and the fan-out with its acks. */
export class TopicIdFanout {
  readonly table = new TopicIdTable(TOPIC_ID_LIMITS.maxEntries, TOPIC_ID_LIMITS.maxScopes);
  readonly #synced = new Set<TopicIdPeer>();
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #lastWarning = -Infinity;
  /** Answers released without every worker's ack. */
  ackTimeouts = 0;

  constructor(
    private readonly o: {
      logger: Logger;
      holdMs?: number;
      now?: () => number;
      /** Writes the union to --state-dir; the answer that taught it waits for the write too. */
      persist?: () => Promise<void>;
    },
  ) {}

  /** Handles a worker's message; false when it is not one of this protocol's. */
  onMessage(peer: TopicIdPeer, m: unknown): boolean {
    if (!isTopicIdSyncMessage(m)) return false;
    switch (m.type) {
      case "kafka-ids-sync?":
        // From now on it is sent every update; the state covers every one before.
        this.#synced.add(peer);
        peer.send({ type: "kafka-ids-state", entries: this.table.entries() });
        break;
      case "kafka-ids-learn": {
        applyAll(this.table, m.entries);
        const learned = (): void => peer.send({ type: "kafka-ids-learned", id: m.id });
        const written = this.o.persist?.();
        if (written === undefined) {
          this.#fanOut(peer, m.entries, learned);
          break;
        }
        let left = 2;
        const one = (): void => {
          if (--left === 0) learned();
        };
        written.then(one, one);
        this.#fanOut(peer, m.entries, one);
        break;
      }
      case "kafka-ids-ack":
        this.#acked(peer, m.seq);
        break;
      default:
        break;
    }
    return true;
  }

  /** Entries learned elsewhere (another process's state file), to every synced worker; nobody waits for them. */
  broadcast(entries: TopicIdEntry[]): void {
    this.#fanOut(null, entries, () => {});
  }

  /** A worker that exited: nothing more is waited for from it. */
  remove(peer: TopicIdPeer): void {
    this.#synced.delete(peer);
    for (const seq of [...this.#pending.keys()]) this.#acked(peer, seq);
  }

  #fanOut(from: TopicIdPeer | null, entries: TopicIdEntry[], done: () => void): void {
    const waiting = new Set([...this.#synced].filter((p) => p !== from));
    if (waiting.size === 0) return done();
    const seq = ++this.#seq;
    const timer = setTimeout(() => this.#timeout(seq), this.o.holdMs ?? TOPIC_ID_HOLD_MS);
    this.#pending.set(seq, { waiting, done, timer });
    for (const p of waiting) p.send({ type: "kafka-ids-update", seq, entries });
  }

  #acked(peer: TopicIdPeer, seq: number): void {
    const p = this.#pending.get(seq);
    if (p === undefined || !p.waiting.delete(peer) || p.waiting.size > 0) return;
    clearTimeout(p.timer);
    this.#pending.delete(seq);
    p.done();
  }

  #timeout(seq: number): void {
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    this.#pending.delete(seq);
    this.ackTimeouts++;
    const now = (this.o.now ?? Date.now)();
    if (now - this.#lastWarning >= 10_000) {
      this.#lastWarning = now;
      this.o.logger.warn(
        { workers: [...p.waiting].map((w) => w.label), holdMs: this.o.holdMs ?? TOPIC_ID_HOLD_MS, ackTimeouts: this.ackTimeouts },
        "workers did not acknowledge learned Kafka topic IDs in time; the Metadata answer was released without them",
      );
    }
    p.done();
  }
}

/** In a worker: its table, kept in step with the others through the primary. */
export class TopicIdReplica implements TopicIdRuntime {
  readonly table = new TopicIdTable(TOPIC_ID_LIMITS.maxEntries, TOPIC_ID_LIMITS.maxScopes);
  readonly #waiting = new Map<number, { resolve: () => void; timer: NodeJS.Timeout }>();
  #nextId = 0;
  #onState: (() => void) | null = null;

  constructor(
    private readonly o: {
      /** Sends to the primary; false when the channel is gone. */
      send: (m: TopicIdSyncMessage) => boolean;
      holdMs?: number;
    },
  ) {}

  /** Asks the primary for every learned ID; true once they are in, false after `timeoutMs`. */
  sync(timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#onState = null;
        resolve(false);
      }, timeoutMs);
      this.#onState = () => {
        clearTimeout(timer);
        resolve(true);
      };
      if (!this.o.send({ type: "kafka-ids-sync?" })) {
        clearTimeout(timer);
        this.#onState = null;
        resolve(false);
      }
    });
  }

  share(entries: readonly TopicIdEntry[]): Promise<void> | null {
    const id = ++this.#nextId;
    if (!this.o.send({ type: "kafka-ids-learn", id, entries: [...entries] })) return null;
    return new Promise<void>((resolve) => {
      // (The primary answers by the bound too; this one covers a primary that never does.)
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve();
      }, (this.o.holdMs ?? TOPIC_ID_HOLD_MS) * 2);
      this.#waiting.set(id, { resolve, timer });
    });
  }

  /** Handles a message from the primary; false when it is not one of this protocol's. */
  onMessage(m: unknown): boolean {
    if (!isTopicIdSyncMessage(m)) return false;
    switch (m.type) {
      case "kafka-ids-state":
        applyAll(this.table, m.entries);
        this.#onState?.();
        this.#onState = null;
        break;
      case "kafka-ids-update":
        applyAll(this.table, m.entries);
        // Applied synchronously: any request decided after this sees the IDs.
        this.o.send({ type: "kafka-ids-ack", seq: m.seq });
        break;
      case "kafka-ids-learned": {
        const w = this.#waiting.get(m.id);
        if (w !== undefined) {
          clearTimeout(w.timer);
          this.#waiting.delete(m.id);
          w.resolve();
        }
        break;
      }
      default:
        break;
    }
    return true;
  }

  close(): void {
    for (const w of this.#waiting.values()) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.#waiting.clear();
  }
}
