// The learned names across --workers processes: the primary owns the node's cache (it runs
// the UDP DNS proxy, persists to --state-dir, refills the kernel's UDP/SCTP sets) and every
// worker keeps a copy (fqdn-replica.ts), because the workers decide TCP connections.
//
// Over each worker's IPC channel (ordered, so a full state followed by updates is never seen
// out of order):
//
//   worker  -> primary  fqdn-sync?                  at start, before listening: "send me everything"
//   primary -> worker   fqdn-state {names}          every unexpired name, with its IPs' expiries
//   primary -> worker   fqdn-update {seq, names}    the current entries of names answers changed
//   worker  -> primary  fqdn-ack {seq}              applied: the worker's next accept sees them
//   worker  -> primary  fqdn-learn {id, name, ips, ttl}  an answer over TCP DNS (in a worker)
//   primary -> worker   fqdn-learned {id}           learned and in force everywhere (or held out)
//
// No race: an answer bringing new addresses is released once every synced worker has acked
// the update that carries them (and the state file and nftables sets are done: fqdn-learning.ts),
// at most --fqdn-max-hold-ms. A worker that has not asked for the state yet is not waited
// for: it is not listening yet, and the state it will get includes the update. A worker that
// does not ack in time stops holding that answer (counted, logged at most every 10 s); a
// worker that exits is not waited for.

import type { Logger } from "pino";
import type { LearnedName } from "../datapath/dns/fqdn-cache.js";

export type FqdnSyncMessage =
  | { type: "fqdn-sync?" }
  | { type: "fqdn-state"; names: LearnedName[] }
  | { type: "fqdn-update"; seq: number; names: LearnedName[] }
  | { type: "fqdn-ack"; seq: number }
  | { type: "fqdn-learn"; id: number; name: string; ips: string[]; ttl: number }
  | { type: "fqdn-learned"; id: number };

const TYPES = new Set<string>(["fqdn-sync?", "fqdn-state", "fqdn-update", "fqdn-ack", "fqdn-learn", "fqdn-learned"]);

export function isFqdnSyncMessage(m: unknown): m is FqdnSyncMessage {
  return typeof m === "object" && m !== null && TYPES.has((m as { type?: unknown }).type as string);
}

/** One worker as the primary sees it. */
export interface FqdnPeer {
  /** For logs: "worker 1". */
  readonly label: string;
  send(m: FqdnSyncMessage): void;
}

/** What the fanout needs of the primary's learner. */
export interface FqdnSource {
  list(): LearnedName[];
  learn(name: string, ips: readonly string[], ttlSeconds: number): Promise<void> | null;
}

interface PendingUpdate {
  waiting: Set<FqdnPeer>;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

export interface FqdnFanoutOptions {
  /** How long an update waits for the workers' acks (the hold bound, --fqdn-max-hold-ms). */
  ackTimeoutMs: number;
  logger: Logger;
  now?: () => number;
}

/** In the primary: sends the learned names to the workers and collects their acks. */
export class FqdnFanout {
  readonly #synced = new Set<FqdnPeer>();
  readonly #pending = new Map<number, PendingUpdate>();
  readonly #now: () => number;
  #seq = 0;
  #lastWarning = -Infinity;
  /** Updates released without every worker's ack. */
  ackTimeouts = 0;

  constructor(private readonly o: FqdnFanoutOptions) {
    this.#now = o.now ?? Date.now;
  }

  get peers(): number {
    return this.#synced.size;
  }

  /** Sends `names` to every synced worker; settles when all have acked, left, or the bound passed. */
  publish(names: LearnedName[]): Promise<void> {
    if (this.#synced.size === 0 || names.length === 0) return Promise.resolve();
    const seq = ++this.#seq;
    const waiting = new Set(this.#synced);
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#timeout(seq), this.o.ackTimeoutMs);
      this.#pending.set(seq, { waiting, resolve, timer });
      for (const peer of waiting) peer.send({ type: "fqdn-update", seq, names });
    });
  }

  /** Handles a worker's message; false when it is not one of this protocol's. */
  onMessage(peer: FqdnPeer, m: unknown, source: FqdnSource): boolean {
    if (!isFqdnSyncMessage(m)) return false;
    switch (m.type) {
      case "fqdn-sync?":
        // From now on its acks count; the state covers every update sent before.
        this.#synced.add(peer);
        peer.send({ type: "fqdn-state", names: source.list() });
        break;
      case "fqdn-ack":
        this.#acked(peer, m.seq);
        break;
      case "fqdn-learn": {
        const ready = source.learn(m.name, m.ips, m.ttl);
        const reply = (): void => peer.send({ type: "fqdn-learned", id: m.id });
        if (ready === null) reply();
        else void ready.then(reply);
        break;
      }
      default:
        break;
    }
    return true;
  }

  /** A worker that exited: nothing more is waited for from it. */
  remove(peer: FqdnPeer): void {
    this.#synced.delete(peer);
    for (const seq of [...this.#pending.keys()]) this.#acked(peer, seq);
  }

  #acked(peer: FqdnPeer, seq: number): void {
    const p = this.#pending.get(seq);
    if (p === undefined || !p.waiting.delete(peer) || p.waiting.size > 0) return;
    clearTimeout(p.timer);
    this.#pending.delete(seq);
    p.resolve();
  }

  #timeout(seq: number): void {
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    this.#pending.delete(seq);
    this.ackTimeouts++;
    const now = this.#now();
    if (now - this.#lastWarning >= 10_000) {
      this.#lastWarning = now;
      this.o.logger.warn(
        { workers: [...p.waiting].map((w) => w.label), ackTimeoutMs: this.o.ackTimeoutMs, ackTimeouts: this.ackTimeouts },
        "workers did not acknowledge learned DNS names in time; the answer was released without them",
      );
    }
    p.resolve();
  }
}
