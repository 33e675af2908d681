// A process's topic-ID table kept in --state-dir: read back before the proxy listens (what
// the previous proxy learned, and what a proxy running beside this one in a rolling restart
// keeps learning), and written whenever a Metadata answer taught something, before that
// answer reaches the client (so a proxy restarted right after it still knows the IDs the
// client was just told). A state file that cannot be read is logged and skipped: the proxy
// starts with what it could read (an ID it does not know is answered UNKNOWN_TOPIC_ID and
// learned again from the client's next Metadata request).

import type { Logger } from "pino";
import { localTopicIds, type TopicIdEntry, type TopicIdRuntime, type TopicIdTable } from "../datapath/kafka/topic-ids.js";
import { TopicIdStateDir } from "./topic-id-state.js";

export interface TopicIdPersistenceOptions {
  table: TopicIdTable;
  stateDir: string;
  logger: Logger;
  /** Called with what another process's file newly taught (the primary passes it on to its workers). */
  onApplied?: (entries: TopicIdEntry[]) => void;
  pid?: number;
}

export class TopicIdPersistence {
  readonly #state: TopicIdStateDir | null;
  #pending: { promise: Promise<void>; resolve: () => void } | null = null;

  constructor(private readonly o: TopicIdPersistenceOptions) {
    let state: TopicIdStateDir | null = null;
    try {
      state = new TopicIdStateDir(o.stateDir, o.pid);
    } catch (err) {
      o.logger.warn({ err, stateDir: o.stateDir }, "cannot use --state-dir for Kafka topic IDs; they are not kept across restarts");
    }
    this.#state = state;
  }

  /** Reads the state files into the table and follows the other processes' writes; how many entries it applied. */
  restore(): number {
    const state = this.#state;
    if (state === null) return 0;
    const applied = this.#load(true).length;
    // This process's file holds everything from now on: the files read may be removed.
    if (applied > 0) this.#write();
    state.watch(() => {
      const changed = this.#load(false);
      if (changed.length === 0) return;
      this.o.onApplied?.(changed);
      void this.persist();
    });
    return applied;
  }

  /** Writes the table once this turn of the event loop is over (one write however many answers came in it). */
  persist(): Promise<void> {
    if (this.#state === null) return Promise.resolve();
    if (this.#pending !== null) return this.#pending.promise;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    const pending = { promise, resolve };
    this.#pending = pending;
    setImmediate(() => {
      this.#pending = null;
      this.#write();
      pending.resolve();
    });
    return promise;
  }

  close(): void {
    this.#state?.close();
  }

  #load(withOwn: boolean): TopicIdEntry[] {
    const { states, problems } = this.#state!.load(withOwn);
    for (const p of problems) this.o.logger.warn({ problem: p }, "ignoring an unreadable Kafka topic-ID state file; its IDs are learned again from the clients' next Metadata requests");
    const changed: TopicIdEntry[] = [];
    for (const entries of states) {
      for (const e of entries) {
        const now = this.o.table.applied(e);
        if (now !== null) changed.push(now);
      }
    }
    return changed;
  }

  #write(): void {
    try {
      this.#state!.save(this.o.table.entries());
    } catch (err) {
      this.o.logger.error({ err }, "writing the Kafka topic-ID state file failed");
    }
  }
}

/**
 * A single process's Kafka topic IDs: its own table, restored from `stateDir` (when set)
 * before the proxy listens, and written there whenever an answer teaches it something.
 */
export function startLocalTopicIds(stateDir: string | null, logger: Logger): TopicIdRuntime & { close(): void } {
  const local = localTopicIds();
  if (stateDir === null) return { ...local, close: () => {} };
  const persistence = new TopicIdPersistence({ table: local.table, stateDir, logger });
  const restored = persistence.restore();
  if (restored > 0) logger.info({ topicIds: restored }, "Kafka topic IDs restored from --state-dir");
  return { table: local.table, share: () => persistence.persist(), close: () => persistence.close() };
}
