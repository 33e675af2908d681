// What DNS answers teach, put to use: the node's learned-name cache (toFQDNs), kept on disk
// (--state-dir) and in the kernel's UDP/SCTP sets, with the answer held until both are done.
//
// No race (cilium/cilium #9185, #34344): an answer that brings new addresses is released only
// once the policy allowing them is in force, up to --fqdn-max-hold-ms:
//   - TCP: the proxy decides each new connection with the cache itself, which is updated
//     before the answer leaves, so nothing needs waiting for;
//   - UDP/SCTP toFQDNs peers: the kernel decides those datagrams, so the nftables sets are
//     refilled (one transaction, coalesced across answers) and the answer waits for it;
//   - the state file is written before the answer leaves too, so a proxy restarted right
//     after the answer still allows the connection it leads to;
//   - with --workers, the workers decide TCP connections from their copy of this cache: the
//     answer waits until every worker has acknowledged the new addresses (fqdn-sync.ts).

import type { Logger } from "pino";
import { FqdnCache, type LearnedName } from "../datapath/dns/fqdn-cache.js";
import type { FqdnLearning } from "../datapath/dns/dns-reporting.js";
import type { PolicySnapshot } from "../policy/decision.js";
import type { FqdnStateDir } from "./fqdn-state.js";

export interface FqdnLearnerOptions {
  minTtlSeconds: number;
  maxIpsPerName: number;
  holdMs: number;
  snapshot: () => PolicySnapshot | null;
  state: FqdnStateDir | null;
  /** Refills the kernel's sets from the cache; null when this process does not manage the rules. */
  applyDatagramRules: (() => Promise<void>) | null;
  /**
   * Sends the current entries of the names answers just changed to the processes that decide
   * connections from a copy of this cache (the --workers workers); settles once they all have
   * them. Null in a single process.
   */
  publish?: ((names: LearnedName[]) => Promise<void>) | null;
  /** Told how long each held answer waited (metrics). */
  holds?: FqdnHoldEvents | null;
  logger: Logger;
  now?: () => number;
  /** Monotonic milliseconds for hold times (default performance.now). */
  clock?: () => number;
}

/** Answers held until the policy allowing their addresses was in force (here or in a worker). */
export interface FqdnHoldEvents {
  /** An answer was released after `heldMs`; `timedOut`: by --fqdn-max-hold-ms, not because all was in force. */
  released(heldMs: number, timedOut: boolean): void;
}

/** The Prometheus side of FqdnHoldEvents. */
export function holdMetrics(cells: { seconds: { observe(v: number): void }; timeouts: { inc(): void } }): FqdnHoldEvents {
  return {
    released(heldMs, timedOut) {
      cells.seconds.observe(heldMs / 1000);
      if (timedOut) cells.timeouts.inc();
    },
  };
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

export class FqdnLearner implements FqdnLearning {
  readonly cache: FqdnCache;
  readonly #now: () => number;
  readonly #clock: () => number;
  #persist: Deferred | null = null;
  #rulesNext: Deferred | null = null;
  #rulesRunning = false;
  #publish: { names: Set<string>; done: Deferred } | null = null;
  #lastHoldWarning = -Infinity;
  readonly #sweeper: NodeJS.Timeout;
  /** Times an answer waited the whole hold without the policy in force (Cilium warns likewise). */
  holdTimeouts = 0;

  constructor(private readonly o: FqdnLearnerOptions) {
    this.cache = new FqdnCache({ minTtlSeconds: o.minTtlSeconds, maxIpsPerName: o.maxIpsPerName });
    this.#now = o.now ?? Date.now;
    this.#clock = o.clock ?? (() => performance.now());
    this.#sweeper = setInterval(() => this.sweep(), 1000);
    this.#sweeper.unref();
  }

  /** Reads what other (earlier) processes learned, and keeps following their writes. */
  restore(): void {
    const state = this.o.state;
    if (state === null) return;
    const load = (first: boolean): void => {
      const { names, problems } = state.loadOthers(first);
      for (const p of problems) this.o.logger.warn({ problem: p }, "ignoring an unreadable FQDN state file");
      const changed = this.cache.restore(names, this.#now());
      if (changed === 0) return;
      // What was restored is this process's to keep from now on: the file it came from is
      // removed once its process has exited, so a second restart with no DNS answer in
      // between would otherwise find nothing. Written before the proxy is ready the first
      // time; while following an older process, with the next batch of saves.
      if (first) this.#saveNow();
      else void this.#schedulePersist();
    };
    load(true);
    state.watch(() => load(false));
  }

  learn(name: string, ips: readonly string[], ttlSeconds: number): Promise<void> | null {
    const { added } = this.cache.learn(name, ips, ttlSeconds, this.#now());
    // Published even when nothing is new: the answer may have extended the IPs' expiry.
    const published = (this.o.publish ?? null) === null ? null : this.#schedulePublish(name);
    if (added.length === 0) return null;
    const waits: Promise<void>[] = [];
    if (published !== null) waits.push(published);
    if (this.o.state !== null) waits.push(this.#schedulePersist());
    const snapshot = this.o.snapshot();
    if (this.o.applyDatagramRules !== null && snapshot?.hasDatagramFqdnPeers() === true) waits.push(this.#scheduleRules());
    if (waits.length === 0) return null;
    const heldAt = this.#clock();
    const holds = this.o.holds ?? null;
    let timer: NodeJS.Timeout | undefined;
    // Told once: by whichever comes first, the policy in force or the hold time.
    let told = false;
    const hold = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.holdTimeouts++;
        this.#warnHold();
        told = true;
        holds?.released(this.#clock() - heldAt, true);
        resolve();
      }, this.o.holdMs);
    });
    const inForce = Promise.all(waits).then(() => {
      clearTimeout(timer);
      if (told) return;
      told = true;
      holds?.released(this.#clock() - heldAt, false);
    });
    return Promise.race([inForce, hold]);
  }

  namesOf(ip: string): string[] {
    return this.cache.namesOf(ip, this.#now());
  }

  /** For PolicySnapshot.nonTcpPolicy: unexpired IPs of the names a selector matches. */
  readonly fqdnIps = (matches: (name: string) => boolean): readonly string[] => this.cache.ipsMatching(matches, this.#now());

  list(): LearnedName[] {
    return this.cache.list(this.#now());
  }

  sweep(): void {
    const removed = this.cache.sweep(this.#now());
    if (removed === 0) return;
    if (this.o.state !== null) void this.#schedulePersist();
    if (this.o.applyDatagramRules !== null && this.o.snapshot()?.hasDatagramFqdnPeers() === true) void this.#scheduleRules();
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.o.state?.close();
  }

  #warnHold(): void {
    const now = this.#now();
    if (now - this.#lastHoldWarning < 10_000) return;
    this.#lastHoldWarning = now;
    this.o.logger.warn({ holdMs: this.o.holdMs, holdTimeouts: this.holdTimeouts }, "a DNS answer was released after --fqdn-max-hold-ms before the policy allowing its addresses was in force everywhere");
  }

  #schedulePublish(name: string): Promise<void> {
    if (this.#publish !== null) {
      this.#publish.names.add(name);
      return this.#publish.done.promise;
    }
    const batch = { names: new Set([name]), done: deferred() };
    this.#publish = batch;
    // One message per turn of the event loop, however many answers came in it.
    setImmediate(() => {
      this.#publish = null;
      const now = this.#now();
      const entries = [...batch.names].map((n) => this.cache.entry(n, now));
      let sent: Promise<void>;
      try {
        sent = this.o.publish?.(entries) ?? Promise.resolve();
      } catch (err) {
        sent = Promise.reject(err as Error);
      }
      sent.catch((err: unknown) => this.o.logger.error({ err }, "sending learned names to the workers failed")).finally(() => batch.done.resolve());
    });
    return batch.done.promise;
  }

  #saveNow(): void {
    try {
      this.o.state?.save(this.cache.list(this.#now()));
    } catch (err) {
      this.o.logger.error({ err }, "writing the FQDN state file failed");
    }
  }

  #schedulePersist(): Promise<void> {
    if (this.#persist !== null) return this.#persist.promise;
    const d = deferred();
    this.#persist = d;
    // Once per turn of the event loop, however many answers came in it.
    setImmediate(() => {
      this.#persist = null;
      this.#saveNow();
      d.resolve();
    });
    return d.promise;
  }

  #scheduleRules(): Promise<void> {
    this.#rulesNext ??= deferred();
    const p = this.#rulesNext.promise;
    if (!this.#rulesRunning) void this.#runRules();
    return p;
  }

  async #runRules(): Promise<void> {
    this.#rulesRunning = true;
    while (this.#rulesNext !== null) {
      const d = this.#rulesNext;
      this.#rulesNext = null;
      try {
        await this.o.applyDatagramRules?.();
      } catch (err) {
        this.o.logger.error({ err, code: "L7P_ERR_RULES" }, "updating the toFQDNs datagram sets failed");
      }
      d.resolve();
    }
    this.#rulesRunning = false;
  }
}
