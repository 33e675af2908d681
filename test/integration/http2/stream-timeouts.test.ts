// HTTP/2 stream timeouts as cilium-envoy's routes have them: the route timeout
// (--request-timeout-ms, end of request to end of response) on every forwarded stream, and a
// gRPC call's deadline (its grpc-timeout, capped by --max-grpc-timeout-ms). Before a response
// head went to the client: Envoy's local replies (504 "upstream request timeout", gRPC
// UNAVAILABLE; DEADLINE_EXCEEDED for a deadline); after: the stream is reset, never ended as a
// success. The upstream stream is cancelled either way, and nothing else on the connection
// notices. Healthy long or quiet streams are never cut by the defaults (no stream idle
// timeout). Real peers on loopback: @grpc/grpc-js, node:http2 core servers and clients, curl.
import { execFile } from "node:child_process";
import { connect, constants, createServer, type ClientHttp2Session, type Http2Server, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as GrpcJs from "@grpc/grpc-js";
import { echoClient, loadGrpc, startEchoServer, type EchoCalls } from "../../../src/demo/grpc-echo-server.js";
import type { Http2Settings } from "../../../src/datapath/http2/session-settings.js";
import { startProxy, until, verdict, type ProxyUnderTest } from "./harness.js";

const run = promisify(execFile);
/** Only for "answered at all": the calls under test would otherwise wait 20 s or forever. */
const ANSWERED_WITHIN = 10_000;

let grpc: typeof GrpcJs;
let echo: { server: GrpcJs.Server; port: number };
const echoLog: Record<string, unknown>[] = [];

// A node:http2 upstream whose routes say how (or whether) to answer; it records how each
// stream it got ended (rstCode 8 = CANCEL from the proxy).
let raw: Http2Server;
let rawPort: number;
const rawRoutes = new Map<string, (s: ServerHttp2Stream) => void>();
const rawClosed = new Map<string, number | undefined>();
const rawHeaders = new Map<string, Record<string, unknown>>();

beforeAll(async () => {
  grpc = await loadGrpc();
  echo = await startEchoServer(0, "127.0.0.1", (o) => echoLog.push(o));
  raw = createServer();
  raw.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const path = String(headers[":path"]);
    rawHeaders.set(path, headers);
    stream.on("close", () => rawClosed.set(path, stream.rstCode));
    const route = rawRoutes.get(path);
    if (route !== undefined) return route(stream);
    stream.resume();
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "text/plain" });
      stream.end(`ok ${path}`);
    });
  });
  await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
  rawPort = (raw.address() as AddressInfo).port;
  // never: reads the request, answers nothing. stall: a response head and part of a body, then nothing.
  rawRoutes.set("/never", (s) => s.resume());
  rawRoutes.set("/never-head", (s) => s.resume());
  rawRoutes.set("/l7test.Echo/Never", (s) => s.resume());
  rawRoutes.set("/stall", (s) => {
    s.resume();
    s.respond({ ":status": 200, "content-type": "text/plain", "content-length": "100" });
    s.write("the first part of it");
  });
});
afterAll(async () => {
  echo?.server.forceShutdown();
  raw?.close();
});

const allow = (): ReturnType<typeof verdict> => verdict(true);

async function withProxy<T>(upstreamPort: number, settings: Partial<Http2Settings>, fn: (p: ProxyUnderTest) => Promise<T>): Promise<T> {
  const p = await startProxy(upstreamPort, allow, settings);
  try {
    return await fn(p);
  } finally {
    await p.close();
  }
}

interface Reply {
  headers: Record<string, unknown>;
  /** The response ended in its HEADERS frame (trailers-only for gRPC). */
  headersOnly: boolean;
  body: string;
  trailers: Record<string, unknown> | null;
  rstCode: number | undefined;
}

/** One request on `session`; resolves when the stream closes (never cancelled by the client). */
function request(session: ClientHttp2Session, headers: Record<string, string>, body: Buffer | null = null): Promise<Reply> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: body === null });
    const out: Reply = { headers: {}, headersOnly: false, body: "", trailers: null, rstCode: undefined };
    req.on("response", (h, flags) => {
      out.headers = h;
      out.headersOnly = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on("trailers", (t) => (out.trailers = t));
    req.setEncoding("utf8");
    req.on("data", (d: string) => (out.body += d));
    req.on("error", () => {});
    req.on("close", () => {
      out.rstCode = req.rstCode;
      resolve(out);
    });
    if (body !== null) req.end(body);
  });
}

function open(port: number): ClientHttp2Session {
  const s = connect(`http://127.0.0.1:${port}`);
  s.on("error", () => {});
  return s;
}

/** A gRPC request head as a raw client sends it; the body is one length-prefixed message. */
const grpcHead = (path: string, extra: Record<string, string> = {}): Record<string, string> => ({
  ":method": "POST",
  ":path": path,
  "content-type": "application/grpc",
  te: "trailers",
  ...extra,
});
const grpcMessage = (payload: string): Buffer => {
  const p = Buffer.from(payload);
  const b = Buffer.alloc(5 + p.length);
  b.writeUInt32BE(p.length, 1);
  p.copy(b, 5);
  return b;
};

function timeLimit<T>(p: Promise<T>, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ANSWERED_WITHIN} ms`)), ANSWERED_WITHIN))]);
}

const cancelledCalls = (method: string): number => echoLog.filter((e) => e.event === "cancelled" && e.method === method).length;

describe("gRPC deadlines (grpc-timeout, --max-grpc-timeout-ms)", () => {
  test("a raw client's grpc-timeout: 200m on a call the server sits on gets DEADLINE_EXCEEDED", async () => {
    await withProxy(echo.port, {}, async (p) => {
      const session = open(p.port);
      const r = await timeLimit(request(session, grpcHead("/l7test.Echo/Unary", { "grpc-timeout": "200m", "x-delay-ms": "20000" }), grpcMessage("slow")), "deadline");
      session.close();
      // grpc-js servers keep deadlines too: whichever of the two answered, the client got 4.
      expect([r.headers[":status"], r.headers["grpc-status"] ?? r.trailers?.["grpc-status"]]).toEqual([200, "4"]);
      await until(() => p.records.some((x) => x.grpc?.method === "Unary"));
      expect(p.records[0]!.grpc).toMatchObject({ method: "Unary", status: 4 });
    });
  }, 20_000);

  test("the proxy keeps the deadline itself: an upstream that ignores grpc-timeout, trailers-only DEADLINE_EXCEEDED, upstream cancelled", async () => {
    await withProxy(rawPort, {}, async (p) => {
      const session = open(p.port);
      const r = await timeLimit(request(session, grpcHead("/l7test.Echo/Never", { "grpc-timeout": "200m" }), grpcMessage("x")), "deadline");
      expect(r.headersOnly).toBe(true);
      expect(r.headers).toMatchObject({ ":status": 200, "content-type": "application/grpc", "grpc-status": "4", "grpc-message": "downstream%20duration%20timeout" });
      await until(() => rawClosed.has("/l7test.Echo/Never"), 5000, "upstream stream closed");
      expect(rawClosed.get("/l7test.Echo/Never")).toBe(constants.NGHTTP2_CANCEL);
      // The upstream got the deadline too.
      expect(rawHeaders.get("/l7test.Echo/Never")?.["grpc-timeout"]).toBe("200m");
      expect(p.connectionErrors.map((e) => e.code)).toEqual(["L7P_ERR_GRPC_DEADLINE"]);
      await until(() => p.records.length === 1);
      expect(p.records[0]).toMatchObject({ status: 200, grpc: { service: "l7test.Echo", method: "Never", status: 4 } });
      // The connection carries on.
      const next = await request(session, { ":path": "/after" });
      expect([next.headers[":status"], next.body]).toEqual([200, "ok /after"]);
      session.close();
    });
  });

  test("a malformed grpc-timeout counts as absent; a non-gRPC request's grpc-timeout is not a deadline", async () => {
    rawRoutes.set("/l7test.Echo/Late", (s) => {
      s.resume();
      setTimeout(() => {
        if (s.destroyed) return;
        s.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        s.on("wantTrailers", () => s.sendTrailers({ "grpc-status": "0" }));
        s.end(grpcMessage("late"));
      }, 400);
    });
    rawRoutes.set("/late-plain", (s) => {
      s.resume();
      setTimeout(() => {
        if (s.destroyed) return;
        s.respond({ ":status": 200 });
        s.end("late");
      }, 400);
    });
    await withProxy(rawPort, {}, async (p) => {
      const session = open(p.port);
      const [malformed, plain] = await Promise.all([
        request(session, grpcHead("/l7test.Echo/Late", { "grpc-timeout": "100ms" }), grpcMessage("x")),
        request(session, { ":path": "/late-plain", "grpc-timeout": "100m" }),
      ]);
      session.close();
      expect([malformed.headers["grpc-status"], malformed.trailers?.["grpc-status"]]).toEqual([undefined, "0"]);
      expect([plain.headers[":status"], plain.body]).toEqual([200, "late"]);
      expect(p.connectionErrors).toEqual([]);
    });
  });

  test("--max-grpc-timeout-ms caps a long grpc-timeout: DEADLINE_EXCEEDED long before it, the server sees the call cancelled", async () => {
    await withProxy(echo.port, { maxGrpcTimeoutMs: 300 }, async (p) => {
      const before = cancelledCalls("Unary");
      const session = open(p.port);
      const r = await timeLimit(request(session, grpcHead("/l7test.Echo/Unary", { "grpc-timeout": "30S", "x-delay-ms": "20000" }), grpcMessage("capped")), "capped deadline");
      session.close();
      expect(r.headers).toMatchObject({ ":status": 200, "grpc-status": "4", "grpc-message": "downstream%20duration%20timeout" });
      await until(() => cancelledCalls("Unary") > before, 5000, "server-side cancellation");
      expect(p.connectionErrors.map((e) => e.code)).toEqual(["L7P_ERR_GRPC_DEADLINE"]);
    });
  }, 20_000);

  test("a @grpc/grpc-js client's deadline on a server stream: its own DEADLINE_EXCEEDED, the server sees the call cancelled", async () => {
    await withProxy(echo.port, {}, async (p) => {
      const client = (await echoClient(`127.0.0.1:${p.port}`)) as GrpcJs.Client & EchoCalls;
      const before = cancelledCalls("Download");
      const md = new grpc.Metadata();
      md.set("x-count", "forever");
      md.set("x-size", "100");
      const err = await timeLimit(
        new Promise<GrpcJs.ServiceError>((resolve) => {
          const call = client.Download(Buffer.alloc(0), md, { deadline: Date.now() + 500 });
          call.on("data", () => {});
          call.on("error", resolve);
        }),
        "grpc-js deadline",
      );
      client.close();
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      await until(() => cancelledCalls("Download") > before, 5000, "server-side cancellation");
    });
  }, 20_000);

  test("a capped deadline on a response that already started: the stream is reset (CANCELLED), never ended as OK", async () => {
    await withProxy(echo.port, { maxGrpcTimeoutMs: 500 }, async (p) => {
      const client = (await echoClient(`127.0.0.1:${p.port}`)) as GrpcJs.Client & EchoCalls;
      const before = cancelledCalls("Download");
      const md = new grpc.Metadata();
      md.set("x-count", "forever");
      md.set("x-size", "100");
      let messages = 0;
      const err = await timeLimit(
        new Promise<GrpcJs.ServiceError>((resolve) => {
          const call = client.Download(Buffer.alloc(0), md, { deadline: Date.now() + 30_000 });
          call.on("data", () => messages++);
          call.on("error", resolve);
          call.on("end", () => resolve({ code: -1 } as unknown as GrpcJs.ServiceError));
        }),
        "capped server stream",
      );
      client.close();
      expect(messages).toBeGreaterThan(0);
      expect(err.code).toBe(grpc.status.CANCELLED);
      await until(() => cancelledCalls("Download") > before, 5000, "server-side cancellation");
      expect(p.connectionErrors.map((e) => e.code)).toEqual(["L7P_ERR_GRPC_DEADLINE"]);
    });
  }, 20_000);
});

describe("the route timeout (--request-timeout-ms) on HTTP/2 streams", () => {
  test("an upstream that never answers: curl --http2-prior-knowledge gets 504 upstream request timeout, the upstream stream is cancelled", async () => {
    rawClosed.delete("/never");
    await withProxy(rawPort, { requestTimeoutMs: 300 }, async (p) => {
      const r = await run("curl", ["-sS", "--http2-prior-knowledge", "-m", "10", "-w", "|%{http_code}|%{content_type}", `http://127.0.0.1:${p.port}/never`]);
      expect(r.stdout).toBe("upstream request timeout|504|text/plain");
      await until(() => rawClosed.has("/never"), 5000, "upstream stream closed");
      expect(rawClosed.get("/never")).toBe(constants.NGHTTP2_CANCEL);
      expect(p.connectionErrors.map((e) => e.code)).toEqual(["L7P_ERR_TIMEOUT"]);
      await until(() => p.records.length === 1);
      expect(p.records[0]).toMatchObject({ url: "/never", status: 504, grpc: null });
    });
  });

  test("a gRPC call past the route timeout: trailers-only UNAVAILABLE, as Envoy maps its 504", async () => {
    await withProxy(rawPort, { requestTimeoutMs: 300 }, async (p) => {
      const session = open(p.port);
      const r = await timeLimit(request(session, grpcHead("/l7test.Echo/Never"), grpcMessage("x")), "route timeout");
      session.close();
      expect(r.headersOnly).toBe(true);
      expect(r.headers).toMatchObject({ ":status": 200, "content-type": "application/grpc", "grpc-status": "14", "grpc-message": "upstream%20request%20timeout" });
    });
  });

  test("a response that started and stalls past the timeout is reset: curl reports an error, not success", async () => {
    rawClosed.delete("/stall");
    await withProxy(rawPort, { requestTimeoutMs: 300 }, async (p) => {
      const r = await run("curl", ["-sS", "--http2-prior-knowledge", "-m", "10", `http://127.0.0.1:${p.port}/stall`]).then(
        (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
      // 92: HTTP/2 stream not closed cleanly (curl's -m would be 28).
      expect(r.code).toBe(92);
      expect(r.stdout).toBe("the first part of it");
      expect(r.stderr).toMatch(/CANCEL/);
      await until(() => rawClosed.has("/stall"), 5000, "upstream stream closed");
      expect(rawClosed.get("/stall")).toBe(constants.NGHTTP2_CANCEL);
      expect(p.connectionErrors.map((e) => e.code)).toEqual(["L7P_ERR_TIMEOUT"]);
    });
  });

  test("one stream timing out leaves the connection's other streams alone", async () => {
    rawRoutes.set("/in-time", (s) => {
      s.resume();
      setTimeout(() => {
        s.respond({ ":status": 200 });
        s.end("in time");
      }, 100);
    });
    await withProxy(rawPort, { requestTimeoutMs: 400 }, async (p) => {
      const session = open(p.port);
      const [timedOut, head, quick, inTime, stalled] = await Promise.all([
        request(session, { ":path": "/never" }),
        request(session, { ":method": "HEAD", ":path": "/never-head" }),
        request(session, { ":path": "/quick" }),
        request(session, { ":path": "/in-time" }),
        request(session, { ":path": "/stall" }),
      ]);
      expect([timedOut.headers[":status"], timedOut.body]).toEqual([504, "upstream request timeout"]);
      expect([head.headers[":status"], head.headersOnly, head.body]).toEqual([504, true, ""]);
      // node:http2 emits 'end' on a reset stream too (nodejs/node #35209): rstCode tells.
      expect([quick.headers[":status"], quick.body, quick.rstCode]).toEqual([200, "ok /quick", constants.NGHTTP2_NO_ERROR]);
      expect([inTime.headers[":status"], inTime.body, inTime.rstCode]).toEqual([200, "in time", constants.NGHTTP2_NO_ERROR]);
      expect([stalled.body, stalled.rstCode]).toEqual(["the first part of it", constants.NGHTTP2_CANCEL]);
      // The same connection, after both timeouts.
      const after = await request(session, { ":path": "/after" });
      expect([after.headers[":status"], after.body]).toEqual([200, "ok /after"]);
      expect(session.destroyed).toBe(false);
      session.close();
      expect(p.connectionErrors.map((e) => e.code)).toEqual(["L7P_ERR_TIMEOUT", "L7P_ERR_TIMEOUT", "L7P_ERR_TIMEOUT"]);
      expect(p.upstreamConnections()).toBe(1);
    });
  });

  test("the clock starts when the request is complete: a slow upload longer than the timeout is answered", async () => {
    await withProxy(rawPort, { requestTimeoutMs: 300 }, async (p) => {
      const session = open(p.port);
      const req = session.request({ ":method": "POST", ":path": "/upload" });
      let status = 0;
      let body = "";
      req.on("response", (h) => (status = Number(h[":status"])));
      req.setEncoding("utf8");
      req.on("data", (d: string) => (body += d));
      const closed = new Promise<void>((r) => req.on("close", () => r()));
      for (let i = 0; i < 4; i++) {
        req.write(`part ${i} `);
        await new Promise((r) => setTimeout(r, 200));
      }
      req.end();
      await closed;
      session.close();
      expect([status, body]).toEqual([200, "ok /upload"]);
      expect(p.connectionErrors).toEqual([]);
    });
  });
});

describe("healthy long and quiet streams are never cut by the defaults", () => {
  test("default settings: a server stream running past a short timeout's length, and a bidi stream quiet longer than the connection idle timeout", async () => {
    // The defaults, except a connection idle timeout shorter than the quiet gap: it applies
    // only to connections without open streams.
    await withProxy(echo.port, { idleTimeoutMs: 300 }, async (p) => {
      const client = (await echoClient(`127.0.0.1:${p.port}`)) as GrpcJs.Client & EchoCalls;
      const md = new grpc.Metadata();
      md.set("x-count", "forever");
      md.set("x-size", "100");
      const download = client.Download(Buffer.alloc(0), md);
      let messages = 0;
      let failed: GrpcJs.ServiceError | null = null;
      download.on("data", () => messages++);
      download.on("error", (e: GrpcJs.ServiceError) => (failed ??= e));

      const chat = client.Chat(new grpc.Metadata());
      const echoed: string[] = [];
      const chatDone = new Promise<GrpcJs.StatusObject>((resolve) => {
        chat.on("data", (m: Buffer) => echoed.push(m.toString()));
        chat.on("error", () => {});
        chat.on("status", resolve);
      });
      chat.write(Buffer.from("before the gap"));
      await new Promise((r) => setTimeout(r, 1500));
      chat.write(Buffer.from("after the gap"));
      chat.end();
      const status = await timeLimit(chatDone, "quiet bidi stream");
      expect([status.code, echoed]).toEqual([grpc.status.OK, ["before the gap", "after the gap"]]);
      expect(failed).toBeNull();
      const seen = messages;
      await until(() => messages > seen, 5000, "server stream still flowing");
      download.cancel();
      client.close();
      expect(p.connectionErrors).toEqual([]);
    });
  }, 20_000);

  test("the route timeout counts a whole streaming response (Cilium's old 15 s cut streams): set short, it resets the stream", async () => {
    await withProxy(echo.port, { requestTimeoutMs: 500 }, async (p) => {
      const client = (await echoClient(`127.0.0.1:${p.port}`)) as GrpcJs.Client & EchoCalls;
      const md = new grpc.Metadata();
      md.set("x-count", "forever");
      md.set("x-size", "100");
      let messages = 0;
      const err = await timeLimit(
        new Promise<GrpcJs.ServiceError>((resolve) => {
          const call = client.Download(Buffer.alloc(0), md);
          call.on("data", () => messages++);
          call.on("error", resolve);
        }),
        "short route timeout",
      );
      client.close();
      expect(messages).toBeGreaterThan(0);
      expect(err.code).toBe(grpc.status.CANCELLED);
      expect(p.connectionErrors.map((e) => e.code)).toEqual(["L7P_ERR_TIMEOUT"]);
    });
  }, 20_000);
});
