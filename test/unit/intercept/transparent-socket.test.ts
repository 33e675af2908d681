// The native addon's sockets, used in-process: IP_TRANSPARENT, SO_MARK, SO_REUSEPORT and the
// net.Server / net.Socket adoption. Needs CAP_NET_ADMIN (root); no kernel rules are changed.

import { spawnSync } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { L7ProxyError } from "../../../src/errors/codes.js";
import { acceptQueued, connectUpstream, listenTransparent, listenTransparentAuto, socketOptions } from "../../../src/intercept/transparent-socket.js";
import { queueConnections } from "../../support/queue-connections.js";

const canRun = process.env["CI"] === "true" || process.getuid?.() === 0;
if (!canRun) process.stderr.write("SKIPPED transparent-socket tests: IP_TRANSPARENT and SO_MARK need root (set CI=true to force)\n");

// TEST-NET-1: never a local address, so only a transparent socket can bind it.
const NON_LOCAL = "192.0.2.77";

const cleanup: Array<() => void> = [];
afterEach(() => {
  while (cleanup.length > 0) cleanup.pop()!();
});

function track<T extends net.Server | net.Socket>(thing: T): T {
  cleanup.push(() => (thing instanceof net.Server ? thing.close() : thing.destroy()));
  return thing;
}

async function plainServer(onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  const server = track(net.createServer(onConnection));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

function request(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(text));
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString()));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
  });
}

describe.runIf(canRun)("listenTransparent", () => {
  test("binds an address that is not local, which an ordinary socket cannot", async () => {
    const plain = net.createServer();
    const failure = await new Promise<NodeJS.ErrnoException>((resolve) => {
      plain.on("error", resolve);
      plain.listen(0, NON_LOCAL);
    });
    expect(failure.code).toBe("EADDRNOTAVAIL");

    const server = track(await listenTransparent({ host: NON_LOCAL, port: 0 }));
    expect(server.address()).toMatchObject({ address: NON_LOCAL, family: "IPv4" });
    expect(portOf(server)).toBeGreaterThan(0);
    expect(socketOptions(server).transparent).toBe(true);
  });

  test("serves connections through net.Server, with transparent accepted sockets", async () => {
    const server = track(await listenTransparent({ host: "127.0.0.1", port: 0, backlog: 16 }));
    let acceptedTransparent: boolean | undefined;
    server.on("connection", (socket: net.Socket) => {
      acceptedTransparent = socketOptions(socket).transparent;
      socket.on("data", (d: Buffer) => socket.end(`echo:${d.toString()}`));
    });
    expect(await request(portOf(server), "ping")).toBe("echo:ping");
    expect(acceptedTransparent).toBe(true);
  });

  test("listens on IPv6", async () => {
    const server = track(await listenTransparent({ host: "::1", port: 0 }));
    expect(server.address()).toMatchObject({ address: "::1", family: "IPv6" });
    expect(socketOptions(server).transparent).toBe(true);
  });

  test("dualStack: one socket on :: takes IPv4 connections too (IPv4-mapped)", async () => {
    const server = track(await listenTransparent({ host: "::", port: 0, dualStack: true }));
    let seen: string | undefined;
    server.on("connection", (socket: net.Socket) => {
      seen = socket.localAddress;
      socket.on("data", (d: Buffer) => socket.end(`echo:${d.toString()}`));
    });
    expect(await request(portOf(server), "v4")).toBe("echo:v4");
    expect(seen).toBe("::ffff:127.0.0.1");
  });

  test("auto: dual-stack on :: where the host has IPv6", async () => {
    const fallbacks: string[] = [];
    const { server, host } = await listenTransparentAuto({ port: 0 }, (reason) => fallbacks.push(reason));
    track(server);
    expect(host).toBe("::");
    expect(fallbacks).toEqual([]);
    expect(server.address()).toMatchObject({ address: "::", family: "IPv6" });
    server.on("connection", (socket: net.Socket) => socket.on("data", (d: Buffer) => socket.end(`echo:${d.toString()}`)));
    expect(await request(portOf(server), "auto")).toBe("echo:auto");
  });

  test("auto: 0.0.0.0 where IPv6 sockets cannot be made, saying why; other errors are not hidden", async () => {
    const noIpv6 = (code: string) => async (o: { host: string; port: number }) => {
      if (o.host === "::") throw Object.assign(new L7ProxyError("L7P_ERR_TRANSPARENT_SOCKET", "cannot listen"), { cause: Object.assign(new Error(code), { code }) });
      return listenTransparent(o);
    };
    const fallbacks: string[] = [];
    const { server, host } = await listenTransparentAuto({ port: 0 }, (reason) => fallbacks.push(reason), undefined, noIpv6("EAFNOSUPPORT"));
    track(server);
    expect(host).toBe("0.0.0.0");
    expect(server.address()).toMatchObject({ address: "0.0.0.0", family: "IPv4" });
    expect(fallbacks).toEqual([expect.stringContaining("EAFNOSUPPORT")]);
    await expect(listenTransparentAuto({ port: 0 }, () => {}, undefined, noIpv6("EADDRINUSE"))).rejects.toMatchObject({ code: "L7P_ERR_TRANSPARENT_SOCKET" });
  });

  test("shares a port with reusePort, and reports EADDRINUSE without it", async () => {
    const first = track(await listenTransparent({ host: "127.0.0.1", port: 0, reusePort: true }));
    const port = portOf(first);
    const second = track(await listenTransparent({ host: "127.0.0.1", port, reusePort: true }));
    expect(portOf(second)).toBe(port);

    const error = await listenTransparent({ host: "127.0.0.1", port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(L7ProxyError);
    expect((error as L7ProxyError).code).toBe("L7P_ERR_TRANSPARENT_SOCKET");
    expect((error as Error).message).toContain("EADDRINUSE");
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  test("the accept queue is as long as asked (ss shows a listener's backlog as Send-Q)", async () => {
    const server = track(await listenTransparent({ host: "127.0.0.1", port: 0, backlog: 333 }));
    const ss = spawnSync("ss", ["-Hltn", `sport = :${portOf(server)}`], { encoding: "utf8" });
    // State Recv-Q Send-Q Local:Port Peer:Port
    expect(ss.stdout.trim().split(/\s+/)[2]).toBe("333");
  });

  test("refuses a host name: addresses only", async () => {
    await expect(listenTransparent({ host: "localhost", port: 0 })).rejects.toMatchObject({
      code: "L7P_ERR_TRANSPARENT_SOCKET",
      message: expect.stringContaining("numeric IP"),
    });
  });
});

function readAll(socket: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString()));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
}

describe.runIf(canRun)("acceptQueued", () => {
  test("takes every connection waiting in the queue, as readable sockets like the server's own", async () => {
    const server = track(await listenTransparent({ host: "127.0.0.1", port: 0, serverOptions: { allowHalfOpen: true } }));
    const sockets: net.Socket[] = [];
    let queued = -1;
    const all = new Promise<void>((resolve) => {
      server.on("connection", (socket: net.Socket) => {
        sockets.push(socket);
        // libuv hands over one connection per event-loop turn; the other four are still queued.
        if (queued < 0) {
          const more = acceptQueued(server, 100);
          queued = more.length;
          sockets.push(...more);
        }
        if (sockets.length === 5) resolve();
      });
    });
    queueConnections(portOf(server), 5);
    await all;
    expect(queued).toBe(4);
    for (const s of sockets) track(s);
    const texts = await Promise.all(sockets.map(readAll));
    expect(texts.sort()).toEqual(["c0", "c1", "c2", "c3", "c4"]);
    for (const s of sockets) {
      expect(s.remoteAddress).toBe("127.0.0.1");
      expect(s.localPort).toBe(portOf(server));
      expect(s.allowHalfOpen).toBe(true);
    }
  });

  test("takes no more than asked; libuv delivers the rest as usual", async () => {
    const server = track(await listenTransparent({ host: "127.0.0.1", port: 0 }));
    const texts: Array<Promise<string>> = [];
    let queued = -1;
    const all = new Promise<void>((resolve) => {
      server.on("connection", (socket: net.Socket) => {
        texts.push(readAll(track(socket)));
        if (queued < 0) {
          const more = acceptQueued(server, 2);
          queued = more.length;
          for (const s of more) texts.push(readAll(track(s)));
        }
        if (texts.length === 5) resolve();
      });
    });
    queueConnections(portOf(server), 5);
    await all;
    expect(queued).toBe(2);
    expect((await Promise.all(texts)).sort()).toEqual(["c0", "c1", "c2", "c3", "c4"]);
  });

  test("returns nothing for a closed server", async () => {
    const server = await listenTransparent({ host: "127.0.0.1", port: 0 });
    server.close();
    expect(acceptQueued(server, 10)).toEqual([]);
  });
});

describe.runIf(canRun)("connectUpstream", () => {
  test("connects with the mark set, and carries data both ways", async () => {
    const server = await plainServer((socket) => socket.on("data", (d: Buffer) => socket.end(`got:${d.toString()}`)));
    const upstream = track(connectUpstream({ host: "127.0.0.1", port: portOf(server), mark: 0x7e58 }));
    expect(socketOptions(upstream)).toEqual({ mark: 0x7e58, transparent: false });
    await once(upstream, "connect");
    upstream.end("hello");
    let answer = "";
    upstream.on("data", (d: Buffer) => (answer += d.toString()));
    await once(upstream, "end");
    expect(answer).toBe("got:hello");
  });

  test("uses the requested source address", async () => {
    let seen: string | undefined;
    const server = await plainServer((socket) => {
      seen = socket.remoteAddress;
      socket.end();
    });
    const upstream = track(connectUpstream({ host: "127.0.0.1", port: portOf(server), localAddress: "127.0.0.9", transparent: true }));
    expect(socketOptions(upstream).transparent).toBe(true);
    await once(upstream, "connect");
    expect(upstream.localAddress).toBe("127.0.0.9");
    await once(upstream, "close");
    expect(seen).toBe("127.0.0.9");
  });

  test("reports a refused connection as an 'error' event, like net.connect", async () => {
    const server = await plainServer(() => undefined);
    const port = portOf(server);
    server.close();
    await once(server, "close");
    const upstream = track(connectUpstream({ host: "127.0.0.1", port, mark: 1 }));
    const [error] = (await once(upstream, "error")) as [NodeJS.ErrnoException];
    expect(error.code).toBe("ECONNREFUSED");
  });

  test("throws at once for what cannot even be tried", () => {
    expect(() => connectUpstream({ host: "example.com", port: 80 })).toThrow(L7ProxyError);
    const error = (() => {
      try {
        connectUpstream({ host: "127.0.0.1", port: 80, localAddress: "::1" });
      } catch (e) {
        return e as L7ProxyError;
      }
      return undefined;
    })();
    expect(error?.code).toBe("L7P_ERR_UPSTREAM_CONNECT");
    expect(error?.message).toContain("localHost does not match");
  });
});
