// Sockets Node.js cannot make on its own, created by the native addon
// (src/intercept/native/transparent-socket.c, built by node-gyp into build/Release during
// `npm ci`) and wrapped in ordinary net.Server / net.Socket objects.
//
// - listenTransparent: a listening socket with IP_TRANSPARENT, the only kind that accepts
//   connections the kernel's TPROXY rule redirected. On an accepted socket,
//   `localAddress`/`localPort` are the connection's original destination (after any DNAT).
// - connectUpstream: an outgoing connection carrying SO_MARK and, optionally, the client's
//   own address as source (IP_TRANSPARENT + bind), so the upstream sees the real client.
// - acceptQueued: the connections waiting in a listener's accept queue, taken at once (libuv
//   hands over one per event-loop turn).

import { closeSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { L7ProxyError } from "../errors/codes.js";

interface NativeAddon {
  listenTransparent(options: { host: string; port: number; backlog?: number; reusePort?: boolean; dualStack?: boolean }): number;
  upstreamSocket(options: {
    family: 4 | 6;
    mark?: number;
    transparent?: boolean;
    localHost?: string;
    localPort?: number;
  }): number;
  socketInfo(fd: number): { mark: number; transparent: boolean };
  acceptQueued(fd: number, max: number): number[];
}

/** Where node-gyp puts the addon; the same two levels up from src/intercept and dist/intercept. */
export const ADDON_PATH = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../build/Release/l7proxy_intercept.node",
);

let addon: NativeAddon | undefined;

// Loaded on first use, so importing this module never fails on a machine where only the
// pure parts (rule rendering, policy) are needed.
function native(): NativeAddon {
  if (addon) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (cause) {
    const error = new L7ProxyError(
      "L7P_ERR_TRANSPARENT_SOCKET",
      `cannot load the native addon ${ADDON_PATH} (built by \`npm ci\` or \`npx node-gyp rebuild\`): ${String(cause)}`,
    );
    error.cause = cause;
    throw error;
  }
  return addon;
}

export interface TransparentListenOptions {
  /** Numeric address to bind; "0.0.0.0" or "::" for all. */
  host: string;
  port: number;
  /** SO_REUSEPORT, so several processes can share the port (the kernel balances between them). */
  reusePort?: boolean;
  /** With an IPv6 host: take IPv4 connections too (IPV6_V6ONLY off, whatever net.ipv6.bindv6only says). */
  dualStack?: boolean;
  backlog?: number;
  /** Options for the net.Server that adopts the socket (pauseOnConnect, noDelay...). */
  serverOptions?: net.ServerOpts;
}

/**
 * Creates a transparent listening socket and resolves with a listening net.Server that owns it.
 * Attach 'connection' listeners to the returned server (or pass them through `server.on`).
 * Needs CAP_NET_ADMIN (root); fails with L7P_ERR_TRANSPARENT_SOCKET otherwise.
 */
export async function listenTransparent<S extends net.Server = net.Server>(options: TransparentListenOptions, adopt?: S): Promise<S> {
  if (net.isIP(options.host) === 0) {
    throw new L7ProxyError("L7P_ERR_TRANSPARENT_SOCKET", `listen address must be a numeric IP, got "${options.host}"`);
  }
  let fd: number;
  try {
    fd = native().listenTransparent({
      host: options.host,
      port: options.port,
      ...(options.backlog !== undefined ? { backlog: options.backlog } : {}),
      reusePort: options.reusePort ?? false,
      ...(options.dualStack === true ? { dualStack: true } : {}),
    });
  } catch (cause) {
    if (cause instanceof L7ProxyError) throw cause;
    const error = new L7ProxyError(
      "L7P_ERR_TRANSPARENT_SOCKET",
      `cannot listen transparently on ${formatHostPort(options.host, options.port)}: ${errorText(cause)}`,
    );
    error.cause = cause;
    throw error;
  }
  // `adopt` lets an http.Server (the admin API) take a shared SO_REUSEPORT socket too.
  const server = (adopt ?? net.createServer(options.serverOptions ?? {})) as S;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      // Node listens again on an adopted fd, with 511 unless given a backlog (only as the
      // second argument for a handle): pass it on.
      server.listen({ fd }, options.backlog ?? 511, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (cause) {
    // Close the descriptor exactly once: through the server if it adopted it, directly if not
    // (closing it twice could close an unrelated descriptor that reused the number).
    if ((server as unknown as { _handle?: unknown })._handle) server.close();
    else closeQuietly(fd);
    const error = new L7ProxyError(
      "L7P_ERR_TRANSPARENT_SOCKET",
      `cannot adopt the transparent socket for ${formatHostPort(options.host, options.port)}: ${errorText(cause)}`,
    );
    error.cause = cause;
    throw error;
  }
  return server;
}

/**
 * The proxy port's listener for `--proxy-host auto`: one dual-stack socket on `::`, because a
 * TPROXY'd IPv6 connection is only ever handed to an IPv6 socket (an IPv4 one on 0.0.0.0
 * leaves it without a listener: dropped by iptables, reset by the nft rules), while IPv4
 * ones reach an IPv6 socket as mapped addresses (::ffff:a.b.c.d). On a host without IPv6
 * (no AF_INET6 sockets, or no address to bind) it falls back to 0.0.0.0 and says so.
 */
export async function listenTransparentAuto<S extends net.Server = net.Server>(
  options: Omit<TransparentListenOptions, "host" | "dualStack">,
  onIpv4Only: (reason: string) => void,
  adopt?: S,
  listen: (options: TransparentListenOptions, adopt?: S) => Promise<S> = listenTransparent,
): Promise<{ server: S; host: string }> {
  try {
    return { server: await listen({ ...options, host: "::", dualStack: true }, adopt), host: "::" };
  } catch (err) {
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    // Anything else (EADDRINUSE, EPERM) is not about IPv6 and must not be papered over.
    if (code !== "EAFNOSUPPORT" && code !== "EADDRNOTAVAIL") throw err;
    onIpv4Only(`${code}: ${(err as Error).message}`);
    return { server: await listen({ ...options, host: "0.0.0.0" }, adopt), host: "0.0.0.0" };
  }
}

export interface UpstreamOptions {
  /** Numeric destination address: the connection's original destination. */
  host: string;
  port: number;
  /**
   * SO_MARK for every packet of the connection. Must not carry the interception mark's bits
   * (those route packets to the local table); InterceptSpec.excludeMark is meant for this.
   */
  mark?: number;
  /**
   * Source address to use. A non-local address (the client's, for a source-preserving
   * connection) needs `transparent: true`, and the interception rules then deliver the
   * replies to this socket (the `socket transparent` rule).
   */
  localAddress?: string;
  transparent?: boolean;
  /** As net.connect's onread: read into one reused buffer. */
  onread?: net.OnReadOpts;
}

/**
 * Starts a connection to the upstream and returns the connecting net.Socket; 'connect' and
 * 'error' are emitted as for net.connect(). Throws L7P_ERR_UPSTREAM_CONNECT synchronously when
 * the socket cannot even be created (bad address, missing privilege).
 *
 * How it works: the addon creates, marks and binds a socket but does not connect it;
 * `new net.Socket({ fd })` adopts it and `socket.connect()` reuses the adopted handle, so
 * libuv performs the non-blocking connect and reports its outcome as usual. The adopt and
 * the connect happen in the same tick: an adopted socket starts reading at once, and an
 * unconnected TCP socket would poll as hung up if the event loop saw it before connect().
 */
export function connectUpstream(options: UpstreamOptions): net.Socket {
  const family = net.isIP(options.host);
  if (family !== 4 && family !== 6) {
    throw new L7ProxyError("L7P_ERR_UPSTREAM_CONNECT", `upstream address must be a numeric IP, got "${options.host}"`);
  }
  let fd: number;
  try {
    fd = native().upstreamSocket({
      family,
      ...(options.mark !== undefined ? { mark: options.mark } : {}),
      ...(options.localAddress !== undefined ? { localHost: options.localAddress } : {}),
      transparent: options.transparent ?? false,
    });
  } catch (cause) {
    if (cause instanceof L7ProxyError) throw cause;
    const error = new L7ProxyError(
      "L7P_ERR_UPSTREAM_CONNECT",
      `cannot create the upstream socket for ${formatHostPort(options.host, options.port)}: ${errorText(cause)}`,
    );
    error.cause = cause;
    throw error;
  }
  // (net.Socket's constructor takes onread as net.connect does; @types/node lists it for connect only.)
  const adopt: net.SocketConstructorOpts & { onread?: net.OnReadOpts } = { fd, readable: true, writable: true };
  if (options.onread !== undefined) adopt.onread = options.onread;
  const socket = new net.Socket(adopt);
  socket.connect({ host: options.host, port: options.port });
  return socket;
}

/**
 * Takes up to `max` connections still waiting in `server`'s accept queue and returns them as
 * net.Sockets, as the server's own 'connection' sockets would be (reading, `allowHalfOpen` as
 * the server's). Call it from the 'connection' handler: since libuv 1.45 (Node.js 20) the event
 * loop accepts one connection per turn, and a turn serving a thousand busy connections lasts
 * tens of milliseconds, so a burst of new connections would wait seconds in the queue while
 * the established ones are served (docs/performance.md, "Tail causes"). Returns nothing when
 * the server is closed or not a TCP listener; a descriptor Node refuses is closed.
 */
export function acceptQueued(server: net.Server, max: number): net.Socket[] {
  const fd = (server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== "number" || fd < 0 || max <= 0) return [];
  const sockets: net.Socket[] = [];
  for (const accepted of native().acceptQueued(fd, max)) {
    try {
      // (allowHalfOpen is a net.Server property that @types/node does not list.)
      const allowHalfOpen = (server as unknown as { allowHalfOpen?: boolean }).allowHalfOpen === true;
      sockets.push(new net.Socket({ fd: accepted, readable: true, writable: true, allowHalfOpen }));
    } catch {
      closeQuietly(accepted);
    }
  }
  return sockets;
}

/** The mark and transparency a socket carries (for checks and tests). */
export function socketOptions(socket: net.Socket | net.Server): { mark: number; transparent: boolean } {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== "number" || fd < 0) {
    throw new L7ProxyError("L7P_ERR_INTERNAL", "socket has no file descriptor (closed, or not a TCP socket)");
  }
  return native().socketInfo(fd);
}

function formatHostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

// Keeps the errno name (EPERM, EADDRINUSE...) visible: it says what to fix.
function errorText(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const code = (cause as NodeJS.ErrnoException).code;
  return typeof code === "string" && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Nothing more to release.
  }
}
