// Real sockets on 127.0.0.1: an upstream Node http server that records every byte it
// receives, the proxy (a plain TCP server running runHttp1Session per connection), and raw
// clients.

import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { runHttp1Session, type Http1Session } from "../../../src/datapath/http1/http1-session.js";
import type { RequestHead } from "../../../src/datapath/http1/request-head.js";
import type { Http1RequestRecord, Http1SessionOptions, HttpDecision } from "../../../src/datapath/http1/session-options.js";
import type { HeaderOp } from "../../../src/policy/decision.js";

export interface Recorder {
  port: number;
  /** Raw bytes received, one entry per accepted connection. */
  connections: Buffer[][];
  /** Raw bytes the upstream sent back, one entry per accepted connection. */
  responses: Buffer[][];
  received(): Buffer;
  /** URLs of /hold/ requests the upstream has received and not answered yet. */
  holding(): string[];
  /** Answers a held /hold/ request (as /echo would). */
  release(url: string): void;
  connectionCount(): number;
  close(): Promise<void>;
}

/**
 * Node http upstream: /echo answers what it got; /status/N answers N; /hold/ answers like
 * /echo once the test releases it; upgrades echo frames back.
 */
/** The body /pattern/N answers: byte i depends on i. */
export function patternBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >>> 11)) & 0xff;
  return b;
}

export async function startUpstream(): Promise<Recorder> {
  const held = new Map<string, () => void>();
  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    let bytes = 0;
    req.on("data", (d: Buffer) => (bytes += d.length));
    req.on("end", () => {
      const url = req.url ?? "";
      const echo = () => {
        const body = JSON.stringify({ method: req.method, url, rawHeaders: req.rawHeaders, bodyBytes: bytes });
        res.writeHead(200, { "content-type": "application/json", "x-upstream": "yes" });
        res.end(req.method === "HEAD" ? undefined : body);
      };
      if (url.startsWith("/hold/")) {
        held.set(url, echo);
        return;
      }
      const status = /^\/status\/(\d+)/.exec(url);
      if (status) {
        res.writeHead(Number(status[1]), { etag: '"x"' });
        res.end();
        return;
      }
      const pattern = /^\/pattern\/(\d+)/.exec(url);
      if (pattern) {
        // Bytes that differ with their offset, in writes of varying sizes: a byte lost,
        // repeated or overwritten anywhere shows in the digest.
        const n = Number(pattern[1]);
        const body = patternBytes(n);
        res.writeHead(200, { "content-length": n });
        let sent = 0;
        let step = 1000;
        const pump = () => {
          while (sent < n) {
            step = (step * 7 + 13) % 70_000 + 1;
            const part = body.subarray(sent, Math.min(n, sent + step));
            sent += part.length;
            if (!res.write(part)) return void res.once("drain", pump);
          }
          res.end();
        };
        pump();
        return;
      }
      const size = /^\/bytes\/(\d+)/.exec(url);
      if (size) {
        const n = Number(size[1]);
        res.writeHead(200, { "content-length": n });
        const block = Buffer.alloc(64 * 1024, 0x61);
        let sent = 0;
        const pump = () => {
          while (sent < n) {
            const part = block.subarray(0, Math.min(block.length, n - sent));
            sent += part.length;
            if (!res.write(part)) return void res.once("drain", pump);
          }
          res.end();
        };
        pump();
        return;
      }
      if (url.startsWith("/hints")) res.writeEarlyHints({ link: "</a.css>; rel=preload" });
      echo();
    });
  });
  http.on("upgrade", (_req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    if (head.length > 0) socket.write(head);
    socket.on("data", (d: Buffer) => socket.write(d));
    socket.on("end", () => socket.end());
  });
  const httpPort = await listen(http);
  // Node's http server reads its sockets natively, so the bytes are recorded by a relay
  // in front of it: what the relay receives is exactly what the proxy sent.
  const connections: Buffer[][] = [];
  const responses: Buffer[][] = [];
  const tcp = createServer({ allowHalfOpen: true }, (sock) => {
    const rec: Buffer[] = [];
    const back: Buffer[] = [];
    connections.push(rec);
    responses.push(back);
    const to = connect({ port: httpPort, host: "127.0.0.1", allowHalfOpen: true });
    sock.on("data", (d: Buffer) => rec.push(Buffer.from(d)));
    to.on("data", (d: Buffer) => back.push(Buffer.from(d)));
    sock.pipe(to).pipe(sock);
    const kill = () => {
      sock.destroy();
      to.destroy();
    };
    sock.on("error", kill);
    to.on("error", kill);
    sock.on("close", kill);
    to.on("close", kill);
  });
  const port = await listen(tcp);
  return {
    port,
    connections,
    responses,
    received: () => Buffer.concat(connections.flat()),
    holding: () => [...held.keys()],
    release: (url: string) => {
      const answer = held.get(url);
      if (answer === undefined) throw new Error(`${url} is not held`);
      held.delete(url);
      answer();
    },
    connectionCount: () => connections.length,
    close: async () => {
      http.closeAllConnections();
      await Promise.all([closeServer(tcp), closeServer(http)]);
    },
  };
}

/** A test policy: deny /deny*, DELETE and /ws-deny*; /ops gets header ops; /boom throws. */
export function testDecide(head: RequestHead): HttpDecision & { rule: string } {
  if (head.path === "/boom") throw new Error("decide exploded");
  if (head.path.startsWith("/deny") || head.method === "DELETE" || head.path.startsWith("/ws-deny")) {
    return { allowed: false, headerOps: [], rule: "deny" };
  }
  if (head.path.startsWith("/ops")) {
    const ops: HeaderOp[] = [
      { op: "add", name: "X-Added", value: "added" },
      { op: "replace", name: "X-Replace", value: "new" },
      { op: "delete", name: "X-Delete" },
    ];
    return { allowed: true, headerOps: ops, rule: "ops" };
  }
  return { allowed: true, headerOps: [], rule: "allow" };
}

export interface Proxy {
  port: number;
  records: Http1RequestRecord[];
  parseErrors: string[];
  connectionErrors: string[];
  /** Calls drain() on every live session, as the proxy server does on SIGTERM. */
  drainAll(): void;
  close(): Promise<void>;
}

export async function startProxy(
  upstreamPort: number,
  extra: Partial<Http1SessionOptions<HttpDecision>> = {},
): Promise<Proxy> {
  const records: Http1RequestRecord[] = [];
  const parseErrors: string[] = [];
  const connectionErrors: string[] = [];
  const sockets = new Set<Socket>();
  const sessions = new Map<Socket, Http1Session>();
  const server = createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on("close", () => {
      sockets.delete(client);
      sessions.delete(client);
    });
    const session = runHttp1Session(client, {
      connectUpstream: (onread) => connect(onread === undefined ? { port: upstreamPort, host: "127.0.0.1" } : { port: upstreamPort, host: "127.0.0.1", onread }),
      decide: testDecide,
      onRequest: (r) => records.push(r),
      onParseError: (c) => parseErrors.push(c),
      onConnectionError: (c) => connectionErrors.push(c),
      ...extra,
    });
    sessions.set(client, session);
  });
  const port = await listen(server);
  return {
    port,
    records,
    parseErrors,
    connectionErrors,
    drainAll: () => {
      for (const s of sessions.values()) s.drain();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await closeServer(server);
    },
  };
}

export function listen(server: Server | import("node:http").Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

function closeServer(server: Server | import("node:http").Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A raw client connection that collects everything it receives. */
export class RawClient {
  readonly socket: Socket;
  private chunks: Buffer[] = [];
  closed = false;
  reset = false;
  private waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    this.socket.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.wake();
    });
    // Like a normal client: when the server ends, end too (the socket then closes).
    this.socket.on("end", () => this.socket.end());
    this.socket.on("error", () => {
      this.reset = true;
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static async open(port: number): Promise<RawClient> {
    const c = new RawClient(port);
    await new Promise<void>((resolve) => c.socket.once("connect", () => resolve()));
    return c;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("latin1");
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  write(s: string | Buffer): void {
    this.socket.write(typeof s === "string" ? Buffer.from(s, "latin1") : s);
  }

  /** Resolves when pred holds on the received text (or the socket closed), or rejects after ms. */
  async until(pred: (text: string) => boolean, ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!pred(this.text())) {
      if (this.closed) break;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting; got ${JSON.stringify(this.text().slice(0, 500))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.text();
  }

  untilClosed(ms = 5000): Promise<string> {
    return this.until(() => false, ms).catch(() => {
      throw new Error(`connection not closed; got ${JSON.stringify(this.text().slice(0, 500))}`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Number of complete HTTP responses at the start of text (status lines counted, 1xx excluded). */
export function statusLines(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])).filter((s) => s >= 200 || s === 101);
}

export async function waitFor(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const DENIED_403 = (date: string, extra = "") =>
  `HTTP/1.1 403 Forbidden\r\ncontent-length: 15\r\ncontent-type: text/plain\r\ndate: ${date}\r\n${extra}\r\nAccess denied\r\n`;

/** The date a local reply carried (so exact-bytes checks do not race the clock). */
export function replyDate(text: string): string {
  const m = /\r\ndate: ([^\r]+)\r\n/.exec(text);
  if (!m) throw new Error(`no date header in ${JSON.stringify(text)}`);
  return m[1]!;
}
