// A process's topic-ID table kept in --state-dir: read back before the proxy listens (what
// the previous proxy learned, and what a proxy running beside this one in a rolling restart
// keeps learning), and written whenever a Metadata answer taught something, before that
// answer reaches the client (so a proxy restarted right after it still knows the IDs the
// client was just told; the answer waits at most TOPIC_ID_WRITE_HOLD_MS, and writes, each
// the whole table, off the event loop and one at a time, are spaced so that they never take
// more than about a fifth of the process's time). A state file that cannot be read is logged
// and skipped: the proxy starts with what it could read (an ID it does not know is answered
// UNKNOWN_TOPIC_ID and learned again from the client's next Metadata request).

import { performance } from "node:perf_hooks";
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
  /** The longest an answer waits for its write (TOPIC_ID_WRITE_HOLD_MS). */
  holdMs?: number;
  now?: () => number;
}

/**
 * The longest an answer waits for its write (the same bound as for the other workers,
 * topic-id-sync.ts): past it the answer goes, and the write still follows.
 */
export const TOPIC_ID_WRITE_HOLD_MS = 100;

/**
 * A write rewrites the whole table (up to 65,536 entries, a few MB of JSON at the bound), so
 * writes are spaced by this many times the last one's duration: however often answers teach
 * something (a destination answering Metadata with new IDs all the time), writing takes at
 * most about a fifth of the process's time.
 */
const WRITE_SPACING = 4;

export class TopicIdPersistence {
  readonly #state: TopicIdStateDir | null;
  readonly #now: () => number;
  /** Changes not yet written, and who waits for them. */
  #dirty: { promise: Promise<void>; resolve: () => void } | null = null;
  #writing = false;
  #nextWriteAt = 0;
  /** A write spaced after the last one, waiting to start. */
  #timer: NodeJS.Timeout | null = null;
  #lastHoldWarning = -Infinity;
  /** Answers released before their write was done. */
  holdTimeouts = 0;

  constructor(private readonly o: TopicIdPersistenceOptions) {
    let state: TopicIdStateDir | null = null;
    try {
      state = new TopicIdStateDir(o.stateDir, o.pid);
    } catch (err) {
      o.logger.warn({ err, stateDir: o.stateDir }, "cannot use --state-dir for Kafka topic IDs; they are not kept across restarts");
    }
    this.#state = state;
    this.#now = o.now ?? (() => performance.now());
  }

  /** Reads the state files into the table and follows the other processes' writes; how many entries it applied. */
  restore(): number {
    const state = this.#state;
    if (state === null) return 0;
    const applied = this.#load(true).length;
    // This process's file holds everything from now on: the files read may be removed.
    if (applied > 0) {
      try {
        state.save(this.o.table.entries());
      } catch (err) {
        this.o.logger.error({ err }, "writing the Kafka topic-ID state file failed");
      }
    }
    state.watch(() => {
      const changed = this.#load(false);
      if (changed.length === 0) return;
      this.o.onApplied?.(changed);
      void this.#markDirty();
    });
    return applied;
  }

  /**
   * Writes the table (off the event loop, one write at a time, every change since the last
   * one in it). Settles once the changes made so far are on disk, or after
   * TOPIC_ID_WRITE_HOLD_MS, whichever comes first.
   */
  persist(): Promise<void> {
    if (this.#state === null) return Promise.resolve();
    const written = this.#markDirty();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.holdTimeouts++;
        this.#warnHold();
        resolve();
      }, this.o.holdMs ?? TOPIC_ID_WRITE_HOLD_MS);
    });
    return Promise.race([written.then(() => clearTimeout(timer)), bound]);
  }

  /** Settles once the table as it is now is on disk (or the write failed). */
  #markDirty(): Promise<void> {
    if (this.#dirty === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#dirty = { promise, resolve };
      if (!this.#writing) this.#schedule();
    }
    return this.#dirty.promise;
  }

  #schedule(): void {
    this.#writing = true;
    const go = (): void => {
      this.#timer = null;
      void this.#writeDirty();
    };
    const wait = this.#nextWriteAt - this.#now();
    // Once this turn of the event loop is over: one write however many answers came in it.
    if (wait > 0) this.#timer = setTimeout(go, wait);
    else setImmediate(go);
  }

  async #writeDirty(): Promise<void> {
    const batch = this.#dirty!;
    this.#dirty = null;
    const t0 = this.#now();
    try {
      await this.#state!.saveAsync(this.o.table.entries());
    } catch (err) {
      this.o.logger.error({ err }, "writing the Kafka topic-ID state file failed");
    }
    const now = this.#now();
    this.#nextWriteAt = now + WRITE_SPACING * (now - t0);
    batch.resolve();
    this.#writing = false;
    if (this.#dirty !== null) this.#schedule();
  }

  #warnHold(): void {
    const now = this.#now();
    if (now - this.#lastHoldWarning < 10_000) return;
    this.#lastHoldWarning = now;
    this.o.logger.warn({ holdMs: this.o.holdMs ?? TOPIC_ID_WRITE_HOLD_MS, holdTimeouts: this.holdTimeouts }, "a Kafka Metadata answer was released before the topic IDs it taught were written to --state-dir");
  }

  /** Stops following the other processes; changes no write has taken yet are written now (the process is stopping). */
  close(): void {
    this.#state?.close();
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#writing = false;
    }
    if (this.#dirty !== null && !this.#writing) {
      try {
        this.#state?.save(this.o.table.entries());
      } catch (err) {
        this.o.logger.error({ err }, "writing the Kafka topic-ID state file failed");
      }
      this.#dirty.resolve();
      this.#dirty = null;
    }
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
