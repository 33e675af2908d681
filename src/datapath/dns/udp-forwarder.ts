// Forwards allowed queries to their resolvers over UDP and matches the answers: one ordinary
// (not transparent) socket per address family, a fresh random ID per query, and an answer
// accepted only from the resolver and port the query went to, under that ID, for the same
// question (dns-exchange.ts checks the question). Queries not answered within the timeout
// are settled with `null` (the caller answers SERVFAIL). Its datagrams leave through the
// output hook, which the interception rules never touch, and their answers are replies in
// conntrack's eyes: nothing intercepts them again.

import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";

export interface PendingQuery {
  /** Called with the answer's bytes, or null on timeout. Return false to keep waiting (not our answer). */
  settle(answer: Buffer | null): boolean;
}

interface Entry {
  key: string;
  pending: PendingQuery;
  deadline: number;
}

export class UdpForwarder {
  readonly #sockets = new Map<4 | 6, dgram.Socket>();
  readonly #pending = new Map<string, Entry>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    // One sweep for every pending query (entries are in deadline order: same timeout for all).
    this.#timer = setInterval(() => this.#expire(), Math.max(10, Math.min(100, timeoutMs / 4)));
    this.#timer.unref();
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  /** Sends `build(id)` to host:port under a fresh ID; returns false when it could not be sent. */
  send(host: string, port: number, build: (id: number) => Buffer, pending: PendingQuery): boolean {
    if (this.#closed) return false;
    const family = net.isIPv6(host) ? 6 : 4;
    const socket = this.#socket(family);
    let id = 0;
    let key = "";
    // Random IDs (never sequential): an off-path spoofer must guess one among those free.
    for (let tries = 0; tries < 8; tries++) {
      id = randomInt(65536);
      key = `${host}|${port}|${id}`;
      if (!this.#pending.has(key)) break;
    }
    if (this.#pending.has(key)) return false;
    this.#pending.set(key, { key, pending, deadline: this.now() + this.timeoutMs });
    socket.send(build(id), port, host, (err) => {
      if (err !== null && err !== undefined) this.#finish(key, null);
    });
    return true;
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const s of this.#sockets.values()) s.close();
    this.#sockets.clear();
    for (const e of [...this.#pending.values()]) this.#finish(e.key, null);
  }

  #socket(family: 4 | 6): dgram.Socket {
    let s = this.#sockets.get(family);
    if (s !== undefined) return s;
    // Every forwarded query's answer comes back here: a larger buffer rides out a short stall
    // of the event loop (the kernel caps it at net.core.rmem_max).
    s = dgram.createSocket({ type: family === 6 ? "udp6" : "udp4", recvBufferSize: 4 << 20 });
    s.on("message", (msg, rinfo) => this.#answer(msg, rinfo));
    // ICMP errors (port unreachable) surface as socket errors; the query then times out.
    s.on("error", () => {});
    this.#sockets.set(family, s);
    return s;
  }

  #answer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 2) return;
    const key = `${rinfo.address}|${rinfo.port}|${msg.readUInt16BE(0)}`;
    const entry = this.#pending.get(key);
    if (entry === undefined) return;
    if (entry.pending.settle(msg)) this.#pending.delete(key);
  }

  #finish(key: string, answer: Buffer | null): void {
    const entry = this.#pending.get(key);
    if (entry === undefined) return;
    this.#pending.delete(key);
    entry.pending.settle(answer);
  }

  #expire(): void {
    const t = this.now();
    for (const e of this.#pending.values()) {
      if (e.deadline > t) break;
      this.#finish(e.key, null);
    }
  }
}
