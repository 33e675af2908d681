// UDP for the DNS proxy through the native addon (src/intercept/native/transparent-udp.c):
//
// - TransparentUdpListener receives the datagrams TPROXY redirected to the DNS port, each
//   with its sender and its original destination (the resolver the client asked).
// - ReplySockets sends an answer to a client from that resolver's address and port, with
//   one transparent socket per resolver address, kept while in use and closed when idle.
// - ClientUdpSocket sends queries to resolvers from a client's own address (a transparent,
//   marked socket bound to it on a port the kernel picks) and receives their answers.

import { closeSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import { L7ProxyError } from "../errors/codes.js";
import { ADDON_PATH } from "./transparent-socket.js";


interface UdpAddon {
  udpListen(options: { host: string; port: number; reusePort: boolean }, onReadable: (err?: string) => void): object;
  udpRecvMany(handle: object, area: Buffer, slot: number, meta: Int32Array): string[] | null;
  udpSendConnected(handle: object, buffer: Buffer): number;
  udpClose(handle: object): void;
  udpReplySocket(options: { host: string; port: number }): number;
  udpSendTo(fd: number, buffer: Buffer, host: string, port: number): number;
  udpUpstream(options: { host: string; mark: number; peer: { host: string; port: number } }, onReadable: (err?: string) => void): object;
  udpInfo(handle: object): UdpSocketInfo;
}

export interface UdpSocketInfo {
  host: string;
  port: number;
  mark: number;
  transparent: boolean;
}

let addon: UdpAddon | undefined;

function native(): UdpAddon {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as UdpAddon;
  } catch (cause) {
    const error = new L7ProxyError("L7P_ERR_TRANSPARENT_SOCKET", `cannot load the native addon ${ADDON_PATH}: ${String(cause)}`);
    error.cause = cause;
    throw error;
  }
  if (typeof addon.udpListen !== "function" || typeof addon.udpUpstream !== "function" || typeof addon.udpRecvMany !== "function") {
    throw new L7ProxyError("L7P_ERR_TRANSPARENT_SOCKET", `the native addon ${ADDON_PATH} predates UDP support: rebuild it (npx node-gyp rebuild)`);
  }
  return addon;
}

export interface UdpAddress {
  ip: string;
  port: number;
}

export interface Datagram {
  data: Buffer;
  from: UdpAddress;
  /** The original destination; ip "" when the datagram was not redirected. */
  to: UdpAddress;
}

/** Most datagrams read in one turn of the event loop, so one busy socket cannot starve the rest. */
const BATCH = 64;
/** Room for each: any UDP datagram fits (a cut one could not be forwarded whole). */
const SLOT = 65536;

/**
 * Where udpRecvMany puts a burst of datagrams (one recvmmsg), shared by every socket: each
 * burst is copied out before any of it is handled. Allocated outside Node's pool so the
 * pages that are never written (most of each slot) never become resident.
 */
let receiveArea: { area: Buffer; meta: Int32Array } | null = null;

function area(): { area: Buffer; meta: Int32Array } {
  receiveArea ??= { area: Buffer.allocUnsafeSlow(BATCH * SLOT), meta: new Int32Array(BATCH * 4) };
  return receiveArea;
}

/**
 * Reads what is waiting on `handle` (up to BATCH datagrams, one native call) and hands each
 * whole datagram to `deliver`; a cut one (longer than 64 KiB, not a DNS message) is dropped.
 * What is left past BATCH is read on the next turn (the poll is level-triggered).
 */
function readBurst(handle: object, deliver: (d: Datagram) => void, onError: (err: Error) => void, redirected: boolean, isClosed: () => boolean): void {
  const { area: buf, meta } = area();
  let hosts: string[] | null;
  try {
    hosts = native().udpRecvMany(handle, buf, SLOT, meta);
  } catch (cause) {
    // ECONNREFUSED and the like, queued on the socket by ICMP errors: not fatal.
    onError(cause as Error);
    return;
  }
  if (hosts === null) return;
  const count = hosts.length >> 1;
  const burst: Datagram[] = [];
  for (let i = 0; i < count; i++) {
    if (meta[i * 4 + 3] !== 0) continue;
    const start = i * SLOT;
    const data = Buffer.from(buf.subarray(start, start + meta[i * 4]!));
    burst.push({ data, from: { ip: hosts[i * 2]!, port: meta[i * 4 + 1]! }, to: redirected ? { ip: hosts[i * 2 + 1]!, port: meta[i * 4 + 2]! } : NOT_REDIRECTED });
  }
  for (const d of burst) {
    deliver(d);
    if (isClosed()) return;
  }
}

/** The `to` of a datagram on a client socket (frozen: shared by all of them). */
const NOT_REDIRECTED: UdpAddress = Object.freeze({ ip: "", port: 0 });

export class TransparentUdpListener {
  #handle: object | null = null;
  #closed = false;

  private constructor(
    private readonly onDatagram: (d: Datagram) => void,
    private readonly onError: (err: Error) => void,
    readonly address: UdpAddress,
  ) {}

  /** Binds an IP_TRANSPARENT UDP socket (SO_REUSEPORT when asked); needs CAP_NET_ADMIN. */
  static open(options: { host: string; port: number; reusePort?: boolean }, onDatagram: (d: Datagram) => void, onError: (err: Error) => void): TransparentUdpListener {
    if (net.isIP(options.host) === 0) {
      throw new L7ProxyError("L7P_ERR_TRANSPARENT_SOCKET", `UDP listen address must be a numeric IP, got "${options.host}"`);
    }
    const listener = new TransparentUdpListener(onDatagram, onError, { ip: options.host, port: options.port });
    try {
      listener.#handle = native().udpListen({ host: options.host, port: options.port, reusePort: options.reusePort ?? false }, (err) => listener.#readable(err));
    } catch (cause) {
      if (cause instanceof L7ProxyError) throw cause;
      const error = new L7ProxyError("L7P_ERR_TRANSPARENT_SOCKET", `cannot listen transparently on UDP ${hostPort(options.host, options.port)}: ${errorText(cause)}`);
      error.cause = cause;
      throw error;
    }
    return listener;
  }

  #readable(err?: string): void {
    if (this.#closed || this.#handle === null) return;
    if (err !== undefined) {
      this.onError(new Error(`UDP poll error ${err}`));
      return;
    }
    readBurst(this.#handle, this.onDatagram, this.onError, true, () => this.#closed);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handle !== null) native().udpClose(this.#handle);
  }
}

/**
 * A UDP socket bound to a client's address (not this host's: IP_TRANSPARENT) on a port the
 * kernel picks, carrying SO_MARK `mark`, connected to one peer (a resolver). What arrives on
 * it (the peer's answers, which the interception rules deliver here rather than to the
 * client) goes to onDatagram, `to` empty.
 */
export class ClientUdpSocket {
  #handle: object | null = null;
  #closed = false;

  private constructor(
    private readonly onDatagram: (d: Datagram) => void,
    private readonly onError: (err: Error) => void,
    readonly peer: UdpAddress,
  ) {}

  /** Throws L7P_ERR_UPSTREAM_SOURCE when the socket cannot be made or bound. */
  static open(options: { host: string; mark: number; peer: UdpAddress }, onDatagram: (d: Datagram) => void, onError: (err: Error) => void): ClientUdpSocket {
    const socket = new ClientUdpSocket(onDatagram, onError, options.peer);
    try {
      const peer = { host: options.peer.ip, port: options.peer.port };
      socket.#handle = native().udpUpstream({ host: options.host, mark: options.mark, peer }, (err) => socket.#readable(err));
    } catch (cause) {
      const error = new L7ProxyError("L7P_ERR_UPSTREAM_SOURCE", `cannot make a UDP socket with the source address ${options.host}: ${errorText(cause)}`);
      error.cause = cause;
      throw error;
    }
    return socket;
  }

  /** Sends to the peer; throws (a system error) when the datagram cannot be sent. */
  send(data: Buffer): void {
    if (this.#handle === null || this.#closed) throw new L7ProxyError("L7P_ERR_INTERNAL", "send on a closed UDP socket");
    native().udpSendConnected(this.#handle, data);
  }

  info(): UdpSocketInfo {
    if (this.#handle === null || this.#closed) throw new L7ProxyError("L7P_ERR_INTERNAL", "info of a closed UDP socket");
    return native().udpInfo(this.#handle);
  }

  #readable(err?: string): void {
    if (this.#closed || this.#handle === null) return;
    if (err !== undefined) {
      this.onError(new Error(`UDP poll error ${err}`));
      return;
    }
    // (ECONNREFUSED: the resolver's port was unreachable, an ICMP error on a connected socket.)
    readBurst(this.#handle, this.onDatagram, this.onError, false, () => this.#closed);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handle !== null) native().udpClose(this.#handle);
  }
}

/**
 * Sends datagrams from any address and port (the resolver's, which is not this host's).
 * Sockets idle for `idleMs` are closed by sweep(), which the owner calls periodically.
 */
export class ReplySockets {
  readonly #sockets = new Map<string, { fd: number; usedAt: number; ip: string; port: number }>();
  /** The socket used last: pods mostly ask one resolver, so most replies skip the lookup's key. */
  #last: { fd: number; usedAt: number; ip: string; port: number } | null = null;

  constructor(private readonly idleMs = 60_000) {}

  send(data: Buffer, from: UdpAddress, to: UdpAddress, nowMs = Date.now()): void {
    let entry = this.#last;
    if (entry === null || entry.ip !== from.ip || entry.port !== from.port) {
      const key = `${from.ip}|${from.port}`;
      entry = this.#sockets.get(key) ?? null;
      if (entry === null) {
        entry = { fd: native().udpReplySocket({ host: from.ip, port: from.port }), usedAt: nowMs, ip: from.ip, port: from.port };
        this.#sockets.set(key, entry);
      }
      this.#last = entry;
    }
    entry.usedAt = nowMs;
    native().udpSendTo(entry.fd, data, to.ip, to.port);
  }

  sweep(nowMs = Date.now()): void {
    for (const [key, entry] of this.#sockets) {
      if (nowMs - entry.usedAt < this.idleMs) continue;
      this.#sockets.delete(key);
      if (this.#last === entry) this.#last = null;
      closeQuietly(entry.fd);
    }
  }

  get size(): number {
    return this.#sockets.size;
  }

  close(): void {
    for (const entry of this.#sockets.values()) closeQuietly(entry.fd);
    this.#sockets.clear();
    this.#last = null;
  }
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function errorText(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const code = (cause as NodeJS.ErrnoException).code;
  return typeof code === "string" && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already gone.
  }
}
