// Every kind of RPC through the HTTP/2 session, with @grpc/grpc-js on both sides: unary,
// client and server streaming, bidirectional; trailers; messages from 0 B to 16 MiB;
// deadlines and cancellation in both directions; denial with PERMISSION_DENIED while other
// streams on the connection carry on.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type * as GrpcJs from "@grpc/grpc-js";
import { echoClient, loadGrpc, pattern, sha256, startEchoServer, type EchoCalls } from "../../../src/demo/grpc-echo-server.js";
import { startProxy, until, verdict, type ProxyUnderTest } from "./harness.js";

let grpc: typeof GrpcJs;
let upstream: { server: GrpcJs.Server; port: number };
const upstreamLog: Record<string, unknown>[] = [];
let proxy: ProxyUnderTest;
let client: GrpcJs.Client & EchoCalls;

beforeAll(async () => {
  grpc = await loadGrpc();
  upstream = await startEchoServer(0, "127.0.0.1", (o) => upstreamLog.push(o));
  proxy = await startProxy(upstream.port, (facts) => verdict(facts.path !== "/l7test.Echo/Forbidden"));
  client = await echoClient(`127.0.0.1:${proxy.port}`);
});
afterAll(async () => {
  client?.close();
  upstream?.server.forceShutdown();
  await proxy?.close();
});

const md = (pairs: Record<string, string> = {}): GrpcJs.Metadata => {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) m.set(k, v);
  return m;
};

function unary(payload: Buffer, meta: Record<string, string> = {}, opts: GrpcJs.CallOptions = {}): Promise<{ reply: Buffer; trailers: GrpcJs.Metadata }> {
  return new Promise((resolve, reject) => {
    let trailers: GrpcJs.Metadata | undefined;
    const call = client.Unary(payload, md(meta), opts, (err, reply) => {
      if (err) reject(err);
      else setImmediate(() => resolve({ reply: reply!, trailers: trailers! }));
    });
    call.on("status", (s: GrpcJs.StatusObject) => (trailers = s.metadata));
  });
}

const callsOf = (method: string) => upstreamLog.filter((e) => e.event === "call" && e.method === method).length;

describe("gRPC through the HTTP/2 session", () => {
  test("unary, 0 B to 16 MiB, byte for byte, with the server's trailers", async () => {
    for (const size of [0, 1, 100_000, 1 << 20, 16 << 20]) {
      const sent = pattern(size, size);
      const { reply, trailers } = await unary(sent);
      expect({ size, digest: sha256(reply) }).toEqual({ size, digest: sha256(sent) });
      expect(trailers.get("x-echo-digest")).toEqual([sha256(sent)]);
    }
  }, 60_000);

  test("request metadata reaches the upstream", async () => {
    await unary(Buffer.from("hi"), { "x-team": "rebels" });
    const call = upstreamLog.filter((e) => e.event === "call").at(-1) as { metadata: Record<string, string> };
    expect(call.metadata["x-team"]).toBe("rebels");
  });

  test("client streaming: every message arrives, in order", async () => {
    const parts = Array.from({ length: 200 }, (_, i) => pattern(1000 + i * 37, i));
    const summary = await new Promise<string>((resolve, reject) => {
      const call = client.Upload(md(), {}, (err, r) => (err ? reject(err) : resolve(r!.toString())));
      for (const p of parts) call.write(p);
      call.end();
    });
    expect(summary).toBe(`200 ${parts.reduce((n, p) => n + p.length, 0)} ${sha256(Buffer.concat(parts))}`);
  });

  test("server streaming: 300 messages of 64 KiB", async () => {
    const got: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.Download(Buffer.alloc(0), md({ "x-count": "300", "x-size": "65536" }));
      call.on("data", (m: Buffer) => got.push(m));
      call.on("error", reject);
      call.on("end", () => resolve());
    });
    expect(got).toHaveLength(300);
    expect(got.every((m, i) => sha256(m) === sha256(pattern(65536, i)))).toBe(true);
  });

  test("bidirectional: each message echoed, then a clean end", async () => {
    const call = client.Chat(md());
    const echoed: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      call.on("data", (m: Buffer) => echoed.push(m.toString()));
      call.on("error", reject);
      call.on("end", () => resolve());
    });
    for (let i = 0; i < 50; i++) call.write(Buffer.from(`msg ${i}`));
    call.end();
    await ended;
    expect(echoed).toEqual(Array.from({ length: 50 }, (_, i) => `msg ${i}`));
  });

  test("a denied method gets PERMISSION_DENIED and never reaches the upstream; other streams carry on", async () => {
    const before = callsOf("Forbidden");
    const results = await Promise.allSettled([
      unary(Buffer.from("a")),
      new Promise((resolve, reject) => client.Forbidden(Buffer.from("x"), md(), {}, (err, r) => (err ? reject(err) : resolve(r)))),
      unary(Buffer.from("b")),
    ]);
    expect(results[0]!.status).toBe("fulfilled");
    expect(results[2]!.status).toBe("fulfilled");
    const denied = results[1] as PromiseRejectedResult;
    expect(denied.reason.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.reason.details).toBe("Access denied\r\n");
    expect(callsOf("Forbidden")).toBe(before);
    await until(() => proxy.records.some((r) => r.grpc?.method === "Forbidden"));
    const rec = proxy.records.find((r) => r.grpc?.method === "Forbidden")!;
    expect(rec).toMatchObject({ status: 200, url: "/l7test.Echo/Forbidden", grpc: { service: "l7test.Echo", method: "Forbidden", status: 7 } });
    expect(rec.verdict.allowed).toBe(false);
  });

  test("records carry the grpc-status from the trailers", async () => {
    await unary(Buffer.from("status"));
    await until(() => proxy.records.some((r) => r.grpc?.method === "Unary" && r.grpc.status === 0));
  });

  test("a deadline: the client gets DEADLINE_EXCEEDED and the upstream sees the call cancelled", async () => {
    const cancelledBefore = upstreamLog.filter((e) => e.event === "cancelled" && e.method === "Unary").length;
    const err = await unary(Buffer.from("slow"), { "x-delay-ms": "3000" }, { deadline: Date.now() + 300 }).catch((e: GrpcJs.ServiceError) => e);
    expect((err as GrpcJs.ServiceError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until(() => upstreamLog.filter((e) => e.event === "cancelled" && e.method === "Unary").length > cancelledBefore, 5000, "upstream cancellation");
  });

  test("cancelling a server stream: RST_STREAM reaches the upstream", async () => {
    const before = upstreamLog.filter((e) => e.event === "cancelled" && e.method === "Download").length;
    const call = client.Download(Buffer.alloc(0), md({ "x-count": "forever", "x-size": "100" }));
    call.on("error", () => {});
    await new Promise<void>((resolve) => call.once("data", () => resolve()));
    call.cancel();
    await until(() => upstreamLog.filter((e) => e.event === "cancelled" && e.method === "Download").length > before, 5000, "upstream cancellation");
  });

  test("100 concurrent RPCs on one connection", async () => {
    const replies = await Promise.all(Array.from({ length: 100 }, (_, i) => unary(pattern(500, i))));
    expect(replies.map((r) => sha256(r.reply))).toEqual(Array.from({ length: 100 }, (_, i) => sha256(pattern(500, i))));
  });
});
