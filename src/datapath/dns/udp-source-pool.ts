// The UDP sockets that send DNS queries from the clients' own addresses: one per (client
// address, resolver address and port), made on first use, shared by every query that client
// has in flight to that resolver, and closed once idle. The number is bounded: a new one past
// the bound takes the place of the least recently used idle socket; when none is idle the
// query cannot be sent (the caller answers SERVFAIL and counts it), never sent from another
// address instead.
//
// Pure bookkeeping: the caller makes the sockets (udp-forwarder.ts, with the addon's
// transparent ones), the clock is injected, and sweep() is called by the owner's timer.

import { L7ProxyError } from "../../errors/codes.js";

export interface PooledSocket {
  close(): void;
}

/** What happens to the pool's sockets, for its metrics (called after the change: `size` is current). */
export interface UdpSourcePoolEvents {
  opened(size: number): void;
  closed(reason: "idle" | "evicted", size: number): void;
  /** A socket could not be had: open threw, or every socket had queries in flight. */
  failed(reason: "open" | "exhausted"): void;
}

export interface UdpSourcePoolOptions {
  /** Most sockets open at once. */
  maxSockets: number;
  /** A socket with no query in flight for this long is closed by sweep(). */
  idleMs: number;
  now?: () => number;
  events?: UdpSourcePoolEvents;
}

interface Entry<S> {
  socket: S;
  /** Queries sent from it whose answer (or timeout) has not come yet. */
  busy: number;
  usedAt: number;
}

export class UdpSourcePool<S extends PooledSocket> {
  // Insertion order is use order (acquire moves an entry to the end): the first idle entry
  // is the least recently used one.
  readonly #entries = new Map<string, Entry<S>>();
  readonly #now: () => number;

  constructor(private readonly o: UdpSourcePoolOptions) {
    this.#now = o.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The socket for `key` (made with `open` if there is none), counted busy until
   * release(key). Throws L7P_ERR_UPSTREAM_SOURCE when the bound is reached with every socket
   * busy, or open's error when it cannot be made.
   */
  acquire(key: string, open: () => S): S {
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry !== undefined) {
      this.#entries.delete(key);
    } else {
      if (this.#entries.size >= this.o.maxSockets && !this.#evictOne()) {
        this.o.events?.failed("exhausted");
        throw new L7ProxyError("L7P_ERR_UPSTREAM_SOURCE", `no UDP socket for ${key}: all ${this.o.maxSockets} (--dns-upstream-sockets) have queries in flight`);
      }
      let socket: S;
      try {
        socket = open();
      } catch (err) {
        this.o.events?.failed("open");
        throw err;
      }
      entry = { socket, busy: 0, usedAt: now };
      this.#entries.set(key, entry);
      this.o.events?.opened(this.#entries.size);
    }
    entry.busy += 1;
    entry.usedAt = now;
    this.#entries.set(key, entry);
    return entry.socket;
  }

  /** One query sent from key's socket is settled. */
  release(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.busy === 0) return;
    entry.busy -= 1;
    entry.usedAt = this.#now();
  }

  /** Closes the sockets idle for idleMs or more; returns how many. */
  sweep(): number {
    const now = this.#now();
    let closed = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.busy > 0 || now - entry.usedAt < this.o.idleMs) continue;
      this.#entries.delete(key);
      entry.socket.close();
      closed += 1;
      this.o.events?.closed("idle", this.#entries.size);
    }
    return closed;
  }

  close(): void {
    for (const entry of this.#entries.values()) entry.socket.close();
    this.#entries.clear();
  }

  #evictOne(): boolean {
    for (const [key, entry] of this.#entries) {
      if (entry.busy > 0) continue;
      this.#entries.delete(key);
      entry.socket.close();
      this.o.events?.closed("evicted", this.#entries.size);
      return true;
    }
    return false;
  }
}
