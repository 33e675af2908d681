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

interface Entry {
  key: string;
  /** The pool's key of the socket the query left on (client|resolver|port); "" for the node's. */
  socket: string;
  pending: PendingQuery;
  deadline: number;
}

/** How often idle client sockets are looked for. */
const SWEEP_EVERY_MS = 1000;

export class UdpForwarder {
  readonly #sockets = new Map<4 | 6, dgram.Socket>();
  readonly #pending = new Map<string, Entry>();
  readonly #pool: UdpSourcePool<ClientSocket> | null;
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
    this.#pool = o.preserveSource === null ? null : new UdpSourcePool({
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
    return this.#pending.size;
  }

  /** Client sockets open. */
  get clientSockets(): number {
    return this.#pool?.size ?? 0;
  }

  /** The address a query from `client` to `host` leaves from: the client's, or "" for the node's. */
  sourceFor(client: string, host: string): string {
    if (this.#pool === null || client === host || client === "" || this.#isLocal(host)) return "";
    return net.isIP(client) === net.isIP(host) ? client : "";
  }

  /**
   * Sends `build(id)` from the client's address (or the node's, see sourceFor) to host:port
   * under a fresh ID; returns null when sent, else why not (nothing is then pending).
   */
  send(client: string, host: string, port: number, build: (id: number) => Buffer, pending: PendingQuery): SendFailure | null {
    if (this.#closed) return { code: null, message: "the forwarder is closed" };
    const source = this.sourceFor(client, host);
    const socketKey = source === "" ? "" : `${source}|${host}|${port}`;
    let id = 0;
    let key = "";
    // Random IDs (never sequential): an off-path spoofer must guess one among those free.
    for (let tries = 0; tries < 8; tries++) {
      id = randomInt(65536);
      key = `${socketKey}|${host}|${port}|${id}`;
      if (!this.#pending.has(key)) break;
    }
    if (this.#pending.has(key)) return { code: null, message: "no free query ID" };
    if (source === "") {
      const socket = this.#nodeSocket(net.isIPv6(host) ? 6 : 4);
      this.#pending.set(key, { key, socket: "", pending, deadline: this.#now() + this.#timeoutMs });
      socket.send(build(id), port, host, (err) => {
        if (err !== null && err !== undefined) this.#finish(key, null);
      });
      return null;
    }
    const pool = this.#pool as UdpSourcePool<ClientSocket>;
    const preserve = this.#preserve as PreserveSource;
    let socket: ClientSocket;
    try {
      socket = pool.acquire(socketKey, () => preserve.open(source, { ip: host, port }, (msg, from) => this.#answer(socketKey, msg, from.ip, from.port)));
    } catch (err) {
      return { code: "L7P_ERR_UPSTREAM_SOURCE", message: err instanceof Error ? err.message : String(err) };
    }
    try {
      socket.send(build(id));
    } catch (err) {
      pool.release(socketKey);
      const code = err instanceof L7ProxyError ? err.code : ((err as NodeJS.ErrnoException).code ?? "");
      return { code: "L7P_ERR_UPSTREAM_CONNECT", message: `sending a DNS query from ${source} to ${host}:${port}: ${code || String(err)}` };
    }
    this.#pending.set(key, { key, socket: socketKey, pending, deadline: this.#now() + this.#timeoutMs });
    return null;
  }

  /** Expires unanswered queries and closes idle client sockets (run by the forwarder's own timer). */
  tick(): void {
    const t = this.#now();
    for (const e of this.#pending.values()) {
      if (e.deadline > t) break;
      this.#finish(e.key, null);
    }
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
    for (const e of [...this.#pending.values()]) this.#finish(e.key, null);
    this.#pool?.close();
  }

  #nodeSocket(family: 4 | 6): dgram.Socket {
    let s = this.#sockets.get(family);
    if (s !== undefined) return s;
    // Every forwarded query's answer comes back here: a larger buffer rides out a short stall
    // of the event loop (the kernel caps it at net.core.rmem_max).
    s = dgram.createSocket({ type: family === 6 ? "udp6" : "udp4", recvBufferSize: 4 << 20 });
    s.on("message", (msg, rinfo) => this.#answer("", msg, rinfo.address, rinfo.port));
    // ICMP errors (port unreachable) surface as socket errors; the query then times out.
    s.on("error", () => {});
    this.#sockets.set(family, s);
    return s;
  }

  #answer(socketKey: string, msg: Buffer, fromIp: string, fromPort: number): void {
    if (msg.length < 2) return;
    const key = `${socketKey}|${fromIp}|${fromPort}|${msg.readUInt16BE(0)}`;
    const entry = this.#pending.get(key);
    if (entry === undefined) return;
    if (entry.pending.settle(msg)) this.#remove(entry);
  }

  #finish(key: string, answer: Buffer | null): void {
    const entry = this.#pending.get(key);
    if (entry === undefined) return;
    this.#remove(entry);
    entry.pending.settle(answer);
  }

  #remove(entry: Entry): void {
    this.#pending.delete(entry.key);
    if (entry.socket !== "") this.#pool?.release(entry.socket);
  }
}
