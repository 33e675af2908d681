// In a --workers worker: its copy of the primary's learned names (fqdn-sync.ts), which the
// worker's TCP connections are decided with (ConnectionContext.fqdn). An answer to a DNS
// query over TCP (which lands in a worker, on the transparent TCP port) is learned here at
// once and sent to the primary, which owns the cache; the answer is held until the primary
// says the addresses are in force in every process (bounded by --fqdn-max-hold-ms).

import type { Logger } from "pino";
import { FqdnCache, type LearnedName } from "../datapath/dns/fqdn-cache.js";
import type { FqdnRuntime } from "../datapath/connection-handler.js";
import type { FqdnHoldEvents } from "./fqdn-learning.js";
import { isFqdnSyncMessage, type FqdnSyncMessage } from "./fqdn-sync.js";

export interface FqdnReplicaOptions {
  minTtlSeconds: number;
  maxIpsPerName: number;
  holdMs: number;
  /** Sends to the primary; false when the channel is gone. */
  send: (m: FqdnSyncMessage) => boolean;
  logger: Logger;
  /** Told how long each held answer waited (metrics). */
  holds?: FqdnHoldEvents | null;
  now?: () => number;
  /** Monotonic milliseconds for hold times (default performance.now). */
  clock?: () => number;
}

export class FqdnReplica implements FqdnRuntime {
  readonly cache: FqdnCache;
  readonly #now: () => number;
  readonly #waiting = new Map<number, { resolve: () => void; timer: NodeJS.Timeout; heldAt: number }>();
  readonly #clock: () => number;
  readonly #sweeper: NodeJS.Timeout;
  #nextId = 0;
  #onState: (() => void) | null = null;

  constructor(private readonly o: FqdnReplicaOptions) {
    this.cache = new FqdnCache({ minTtlSeconds: o.minTtlSeconds, maxIpsPerName: o.maxIpsPerName });
    this.#now = o.now ?? Date.now;
    this.#clock = o.clock ?? (() => performance.now());
    // Expiry is by the clock (namesOf checks it), as in the primary; this only frees memory.
    this.#sweeper = setInterval(() => this.cache.sweep(this.#now()), 1000);
    this.#sweeper.unref();
  }

  /** Asks the primary for every learned name; resolves true once they are in, false after `timeoutMs`. */
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
      if (!this.o.send({ type: "fqdn-sync?" })) {
        clearTimeout(timer);
        this.#onState = null;
        resolve(false);
      }
    });
  }

  /** Handles a message from the primary; false when it is not one of this protocol's. */
  onMessage(m: unknown): boolean {
    if (!isFqdnSyncMessage(m)) return false;
    const now = this.#now();
    switch (m.type) {
      case "fqdn-state":
        this.#apply(m.names, now);
        this.#onState?.();
        this.#onState = null;
        break;
      case "fqdn-update":
        this.#apply(m.names, now);
        // Applied synchronously: any connection accepted after this sees the names.
        this.o.send({ type: "fqdn-ack", seq: m.seq });
        break;
      case "fqdn-learned": {
        const w = this.#waiting.get(m.id);
        if (w !== undefined) {
          clearTimeout(w.timer);
          this.#waiting.delete(m.id);
          this.o.holds?.released(this.#clock() - w.heldAt, false);
          w.resolve();
        }
        break;
      }
      default:
        break;
    }
    return true;
  }

  learn(name: string, ips: readonly string[], ttlSeconds: number): Promise<void> | null {
    // This worker allows the addresses at once, whatever the primary does.
    const { added } = this.cache.learn(name, ips, ttlSeconds, this.#now());
    const id = ++this.#nextId;
    // Always sent: the primary persists the answer and keeps its expiry for everyone.
    if (!this.o.send({ type: "fqdn-learn", id, name, ips: [...ips], ttl: ttlSeconds })) return null;
    if (added.length === 0) {
      // Nothing new here, so nothing new in the primary either (this copy follows it): no wait.
      return null;
    }
    const heldAt = this.#clock();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        this.o.logger.debug({ name }, "the primary did not confirm a learned DNS name in time; answer released");
        this.o.holds?.released(this.#clock() - heldAt, true);
        resolve();
      }, this.o.holdMs);
      this.#waiting.set(id, { resolve, timer, heldAt });
    });
  }

  namesOf(ip: string): string[] {
    return this.cache.namesOf(ip, this.#now());
  }

  list(): LearnedName[] {
    return this.cache.list(this.#now());
  }

  close(): void {
    clearInterval(this.#sweeper);
    for (const w of this.#waiting.values()) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.#waiting.clear();
  }

  #apply(names: readonly LearnedName[], now: number): void {
    for (const n of names) this.cache.put(n, now);
  }
}
