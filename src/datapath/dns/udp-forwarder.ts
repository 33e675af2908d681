// Forwards allowed queries to their resolvers over UDP and matches the answers: a fresh
// random ID per query, and an answer accepted only on the socket the query left from, from
// the resolver and port it went to, under that ID, for the same question (dns-exchange.ts
// checks the question). Queries not answered within the timeout are settled with `null`
// (the caller answers SERVFAIL).
//
// Where a query leaves from, as for TCP (upstream-connect.ts):
//   - source-preserving (the default): from the client's own address, on a socket of the
//     pool (udp-source-pool.ts), one per (client, resolver), made by PreserveSource.open (a
//     transparent, marked socket bound to the client's address and connected to the
//     resolver; the interception rules deliver the answers to it, not to the client).
//     A resolver on another node, and its node's proxy, then see the pod, not this node.
//     If that socket cannot be had the query is not sent (SERVFAIL, counted), never sent
//     from the node's address instead;
//   - from the node's address (one ordinary socket per family) when preservation is off
//     (--no-preserve-source, plain mode), for a resolver that is an address of this node
//     (its answer would be routed to the pod), and for a client asking itself.
// Either way the datagrams leave through the output hook, which the interception rules
// never redirect, and their answers are replies in conntrack's eyes.

import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import { L7ProxyError } from "../../errors/codes.js";
import { isLocalAddress } from "../../intercept/local-addresses.js";
import { type PooledSocket, UdpSourcePool, type UdpSourcePoolEvents } from "./udp-source-pool.js";

export interface PendingQuery {
  /** Called with the answer's bytes, or null on timeout. Return false to keep waiting (not our answer). */
  settle(answer: Buffer | null): boolean;
}

/** A socket from one client's address to one resolver. send throws when the datagram cannot go. */
export interface ClientSocket extends PooledSocket {
  send(data: Buffer): void;
}

export interface PreserveSource {
  /**
   * Makes the socket from a client address to a resolver, calling onAnswer with what arrives
   * on it; throws when it cannot.
   */
  open(client: string, resolver: { ip: string; port: number }, onAnswer: (msg: Buffer, from: { ip: string; port: number }) => void): ClientSocket;
  maxSockets: number;
  idleMs: number;
  /** The pool's socket events (metrics). */
  events?: UdpSourcePoolEvents;
}

export interface UdpForwarderOptions {
  timeoutMs: number;
  /** null: every query from the node's address. */
  preserveSource: PreserveSource | null;
  now?: () => number;
  /** Whether an address is this node's (default: local-addresses.ts). */
  isLocal?: (ip: string) => boolean;
}

/** Why a query was not sent; the caller answers SERVFAIL. */
export interface SendFailure {
  /** L7P_ERR_UPSTREAM_SOURCE: no socket from the client's address; L7P_ERR_UPSTREAM_CONNECT: the send failed; null: no free ID, or closed. */
  code: "L7P_ERR_UPSTREAM_SOURCE" | "L7P_ERR_UPSTREAM_CONNECT" | null;
  message: string;
}

/** One query in flight. */
interface Entry {
  id: number;
  /** The queries in flight on the socket this one left from, by ID (this one among them). */
  table: Map<number, Entry>;
  /** The pool's key of that socket (client|resolver|port); "" for the node's. */
  socket: string;
  host: string;
  port: number;
  /** SETTLED once settled: an entry left in the deadline queue must not keep its query alive. */
  pending: PendingQuery;
  deadline: number;
  /** Settled (answered, timed out or closed): its place in the deadline queue is skipped. */
  done: boolean;
}

const SETTLED: PendingQuery = { settle: () => true };

/** A client socket of the pool, with the queries in flight on it. */
interface Pooled extends PooledSocket {
  socket: ClientSocket;
  table: Map<number, Entry>;
}

/** How often idle client sockets are looked for. */
const SWEEP_EVERY_MS = 1000;
/** Settled entries at the head of the deadline queue past which it is compacted. */
const COMPACT_AT = 1024;

export class UdpForwarder {
  readonly #sockets = new Map<4 | 6, dgram.Socket>();
  /** Queries sent from the node's sockets, by resolver (host|port), then ID. */
  readonly #nodeTables = new Map<string, Map<number, Entry>>();
  /**
   * Every query in flight, in deadline order (one timeout for all, so send order): the
   * sweep looks at the head only. Lookups by answer go through the per-socket tables, keyed
   * by the ID alone, so a query costs no string key of its own.
   */
  #queue: (Entry | null)[] = [];
  #head = 0;
  #inFlight = 0;
  readonly #pool: UdpSourcePool<Pooled> | null;
  readonly #preserve: PreserveSource | null;
  readonly #timer: NodeJS.Timeout;
  readonly #now: () => number;
  readonly #isLocal: (ip: string) => boolean;
  readonly #timeoutMs: number;
  #sweptAt: number;
  #closed = false;

  constructor(o: UdpForwarderOptions) {
    this.#now = o.now ?? (() => performance.now());
    this.#isLocal = o.isLocal ?? ((ip) => isLocalAddress(ip));
    this.#timeoutMs = o.timeoutMs;
    this.#sweptAt = this.#now();
    this.#preserve = o.preserveSource;
    this.#pool =
      o.preserveSource === null
        ? null
        : new UdpSourcePool<Pooled>({
            maxSockets: o.preserveSource.maxSockets,
            idleMs: o.preserveSource.idleMs,
            now: this.#now,
            ...(o.preserveSource.events !== undefined ? { events: o.preserveSource.events } : {}),
          });
    // One sweep for every pending query (entries are in deadline order: same timeout for all).
    this.#timer = setInterval(() => this.tick(), Math.max(10, Math.min(100, o.timeoutMs / 4)));
    this.#timer.unref();
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Client sockets open. */
  get clientSockets(): number {
    return this.#pool?.size ?? 0;
  }

  /** The address a query from `client` to `host` leaves from: the client's, or "" for the node's. */
  sourceFor(client: string, host: string): string {
    if (this.#pool === null || client === host || client === "" || this.#isLocal(host)) return "";
    // (Both are addresses as the kernel spells them: the family shows in a colon, and
    // net.isIP's regular expressions would cost more than the rest of this per query.)
    return client.includes(":") === host.includes(":") ? client : "";
  }

  /**
   * Sends `build(id)` from the client's address (or the node's, see sourceFor) to host:port
   * under a fresh ID; returns null when sent, else why not (nothing is then pending).
   */
  send(client: string, host: string, port: number, build: (id: number) => Buffer, pending: PendingQuery): SendFailure | null {
    if (this.#closed) return { code: null, message: "the forwarder is closed" };
    const source = this.sourceFor(client, host);
    if (source === "") {
      const tableKey = `${host}|${port}`;
      let table = this.#nodeTables.get(tableKey);
      if (table === undefined) {
        table = new Map();
        this.#nodeTables.set(tableKey, table);
      }
      const id = freeId(table);
      if (id < 0) return { code: null, message: "no free query ID" };
      const entry = this.#add(id, table, "", host, port, pending);
      this.#nodeSocket(net.isIPv6(host) ? 6 : 4).send(build(id), port, host, (err) => {
        if (err !== null && err !== undefined) this.#finish(entry, null);
      });
      return null;
    }
    const socketKey = `${source}|${host}|${port}`;
    const pool = this.#pool as UdpSourcePool<Pooled>;
    const preserve = this.#preserve as PreserveSource;
    let pooled: Pooled;
    try {
      pooled = pool.acquire(socketKey, () => {
        const table = new Map<number, Entry>();
        const socket = preserve.open(source, { ip: host, port }, (msg, from) => this.#answer(table, msg, from.ip, from.port));
        return { socket, table, close: () => socket.close() };
      });
    } catch (err) {
      return { code: "L7P_ERR_UPSTREAM_SOURCE", message: err instanceof Error ? err.message : String(err) };
    }
    const id = freeId(pooled.table);
    if (id < 0) {
      pool.release(socketKey);
      return { code: null, message: "no free query ID" };
    }
    try {
      pooled.socket.send(build(id));
    } catch (err) {
      pool.release(socketKey);
      const code = err instanceof L7ProxyError ? err.code : ((err as NodeJS.ErrnoException).code ?? "");
      return { code: "L7P_ERR_UPSTREAM_CONNECT", message: `sending a DNS query from ${source} to ${host}:${port}: ${code || String(err)}` };
    }
    this.#add(id, pooled.table, socketKey, host, port, pending);
    return null;
  }

  /** Expires unanswered queries and closes idle client sockets (run by the forwarder's own timer). */
  tick(): void {
    const t = this.#now();
    const q = this.#queue;
    while (this.#head < q.length) {
      const e = q[this.#head];
      if (e !== null && e !== undefined && !e.done && e.deadline > t) break;
      q[this.#head++] = null;
      if (e !== null && e !== undefined && !e.done) this.#finish(e, null);
    }
    this.#compact();
    if (this.#pool !== null && t - this.#sweptAt >= SWEEP_EVERY_MS) {
      this.#sweptAt = t;
      this.#pool.sweep();
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const s of this.#sockets.values()) s.close();
    this.#sockets.clear();
    const q = this.#queue;
    for (let i = this.#head; i < q.length; i++) {
      const e = q[i];
      if (e !== null && e !== undefined && !e.done) this.#finish(e, null);
    }
    this.#queue = [];
    this.#head = 0;
    this.#pool?.close();
  }

  #add(id: number, table: Map<number, Entry>, socket: string, host: string, port: number, pending: PendingQuery): Entry {
    const entry: Entry = { id, table, socket, host, port, pending, deadline: this.#now() + this.#timeoutMs, done: false };
    table.set(id, entry);
    this.#queue.push(entry);
    this.#inFlight++;
    // One query that waits for its timeout holds the head; the settled ones behind it go
    // once they outnumber those in flight (amortized: one pass per that many queries).
    if (this.#queue.length - this.#head > 2 * this.#inFlight + COMPACT_AT) {
      this.#queue = this.#queue.slice(this.#head).filter((e) => e !== null && !e.done);
      this.#head = 0;
    }
    return entry;
  }

  #compact(): void {
    if (this.#head < COMPACT_AT || this.#head * 2 < this.#queue.length) return;
    this.#queue = this.#queue.slice(this.#head);
    this.#head = 0;
  }

  /** Entries in the deadline queue, settled ones included (for the test of its bound). */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  #nodeSocket(family: 4 | 6): dgram.Socket {
    let s = this.#sockets.get(family);
    if (s !== undefined) return s;
    // Every forwarded query's answer comes back here: a larger buffer rides out a short stall
    // of the event loop (the kernel caps it at net.core.rmem_max).
    s = dgram.createSocket({ type: family === 6 ? "udp6" : "udp4", recvBufferSize: 4 << 20 });
    s.on("message", (msg, rinfo) => {
      const table = this.#nodeTables.get(`${rinfo.address}|${rinfo.port}`);
      if (table !== undefined) this.#answer(table, msg, rinfo.address, rinfo.port);
    });
    // ICMP errors (port unreachable) surface as socket errors; the query then times out.
    s.on("error", () => {});
    this.#sockets.set(family, s);
    return s;
  }

  /** An answer on the socket whose queries `table` holds, from fromIp:fromPort. */
  #answer(table: Map<number, Entry>, msg: Buffer, fromIp: string, fromPort: number): void {
    if (msg.length < 2) return;
    const entry = table.get(msg.readUInt16BE(0));
    // Only from the resolver and port the query went to (a connected socket sees no other).
    if (entry === undefined || entry.host !== fromIp || entry.port !== fromPort) return;
    if (entry.pending.settle(msg)) this.#remove(entry);
  }

  #finish(entry: Entry, answer: Buffer | null): void {
    if (entry.done) return;
    const pending = entry.pending;
    this.#remove(entry);
    pending.settle(answer);
  }

  #remove(entry: Entry): void {
    entry.done = true;
    entry.pending = SETTLED;
    entry.table.delete(entry.id);
    this.#inFlight--;
    if (entry.socket !== "") this.#pool?.release(entry.socket);
    // Answers mostly come in the order the queries left: the head moves on at once, so a
    // settled entry is not kept until the next sweep (long enough to survive a scavenge).
    const q = this.#queue;
    while (this.#head < q.length) {
      const e = q[this.#head];
      if (e !== null && e !== undefined && !e.done) break;
      q[this.#head++] = null;
    }
  }
}

/** A random ID no query in flight on that socket has (never sequential: an off-path spoofer must guess one among those free), or -1. */
function freeId(table: Map<number, Entry>): number {
  for (let tries = 0; tries < 8; tries++) {
    const id = randomInt(65536);
    if (!table.has(id)) return id;
  }
  return -1;
}
