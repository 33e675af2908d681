// The HTTP/2 session with node:http2 (core API) and curl peers: plain requests and denials,
// path normalization, headerMatches actions, request trailers, upstream resets that must never
// pass as success (nodejs/node #35209), flow control under a slow reader, and GOAWAY on drain.
import { execFile } from "node:child_process";
import { connect, constants, createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import * as h2 from "../../support/h2-frames.js";
import { startProxy, until, verdict, type ProxyUnderTest } from "./harness.js";

const run = promisify(execFile);

type Handler = (stream: ServerHttp2Stream, headers: Record<string, string | string[] | undefined>) => void;
let upstream: Http2Server;
let upstreamPort: number;
const seen: { path: string; headers: Record<string, unknown> }[] = [];
const routes = new Map<string, Handler>();
let proxy: ProxyUnderTest;

beforeAll(async () => {
  upstream = createServer();
  upstream.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const path = String(headers[":path"]);
    seen.push({ path, headers });
    const handler = routes.get(path.split("?")[0]!);
    if (handler !== undefined) return handler(stream, headers);
    const chunks: Buffer[] = [];
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "text/plain", "x-upstream": "yes" });
      stream.end(`${headers[":method"]} ${path} ${Buffer.concat(chunks).length}\n`);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamPort = (upstream.address() as AddressInfo).port;
  proxy = await startProxy(upstreamPort, (f) => {
    if (f.path.startsWith("/denied")) return verdict(false);
    if (f.path.startsWith("/ops")) return verdict(true, [{ op: "add", name: "x-added", value: "1" }, { op: "delete", name: "x-secret" }]);
    return verdict(true);
  });
});
afterAll(async () => {
  await proxy?.close();
  upstream?.close();
});

interface Reply {
  status: number;
  headers: Record<string, unknown>;
  body: string;
  trailers: Record<string, unknown> | null;
  rstCode: number | undefined;
}

function request(headers: Record<string, string>, body?: Buffer | null, trailers?: Record<string, string>): Promise<Reply> {
  const session = connect(`http://127.0.0.1:${proxy.port}`);
  session.on("error", () => {});
  return new Promise((resolve) => {
    const req = session.request(headers, trailers === undefined ? { endStream: body === null } : { waitForTrailers: true });
    if (trailers !== undefined) req.on("wantTrailers", () => req.sendTrailers(trailers));
    const out: Reply = { status: 0, headers: {}, body: "", trailers: null, rstCode: undefined };
    req.on("response", (h) => {
      out.status = Number(h[":status"]);
      out.headers = h;
    });
    req.on("trailers", (t) => (out.trailers = t));
    req.setEncoding("utf8");
    req.on("data", (d: string) => (out.body += d));
    req.on("error", () => {});
    req.on("close", () => {
      out.rstCode = req.rstCode;
      session.close();
      resolve(out);
    });
    if (body !== null && body !== undefined) req.end(body);
    else if (body === undefined || trailers !== undefined) req.end();
  });
}

describe("HTTP/2 session", () => {
  test("allowed and denied requests on one connection; the denied one never reaches the upstream", async () => {
    const ok = await request({ ":path": "/hello" });
    expect([ok.status, ok.body, ok.headers["x-upstream"]]).toEqual([200, "GET /hello 0\n", "yes"]);
    const before = seen.length;
    const denied = await request({ ":path": "/denied/x", ":method": "POST" }, Buffer.from("body"));
    expect([denied.status, denied.body, denied.headers["content-type"]]).toEqual([403, "Access denied\r\n", "text/plain"]);
    expect(seen.length).toBe(before);
  });

  test("curl --http2-prior-knowledge: 200 forwarded, 403 Access denied", async () => {
    const url = `http://127.0.0.1:${proxy.port}`;
    const ok = await run("curl", ["-sS", "--http2-prior-knowledge", "-w", " %{http_code} %{http_version}", `${url}/curl`]);
    expect(ok.stdout).toBe("GET /curl 0\n 200 2");
    const denied = await run("curl", ["-sS", "--http2-prior-knowledge", "-w", " %{http_code}", `${url}/denied`]);
    expect(denied.stdout).toBe("Access denied\r\n 403");
  });

  test(":path is normalized before policy and forwarded normalized; escaped slashes get Envoy's 307", async () => {
    const r = await request({ ":path": "/a/../denied/x" });
    expect(r.status).toBe(403);
    const fwd = await request({ ":path": "/x/./y//z?q=/../1" });
    expect(fwd.body).toBe("GET /x/y/z?q=/../1 0\n");
    const redirect = await request({ ":path": "/a%2Fdenied" });
    expect([redirect.status, redirect.headers.location]).toEqual([307, "/a/denied"]);
    const bad = await request({ ":path": "/a%zz" });
    expect(bad.status).toBe(400);
    expect(proxy.parseErrors).toContain("L7P_ERR_HTTP_PATH");
  });

  test("headerMatches actions apply to the forwarded headers", async () => {
    await request({ ":path": "/ops", "x-secret": "s", "x-keep": "k" });
    const h = seen.at(-1)!.headers;
    expect([h["x-added"], h["x-secret"], h["x-keep"]]).toEqual(["1", undefined, "k"]);
  });

  test("request trailers and response trailers go end to end", async () => {
    routes.set("/trailers", (stream) => {
      let got: unknown = null;
      stream.on("trailers", (t) => (got = t["x-client-trailer"]));
      stream.resume();
      stream.on("end", () => {
        stream.respond({ ":status": 200 }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "x-server-trailer": `saw ${String(got)}` }));
        stream.end("body");
      });
    });
    const r = await request({ ":path": "/trailers", ":method": "POST" }, null, { "x-client-trailer": "ct" });
    expect([r.status, r.body, r.trailers?.["x-server-trailer"]]).toEqual([200, "body", "saw ct"]);
  });

  test("an upstream RST_STREAM(NO_ERROR) before END_STREAM is never passed on as success", async () => {
    // node:http2 cannot send this (its close() ends the stream first), so the upstream writes
    // frames by hand: response head, part of the body, RST_STREAM(NO_ERROR).
    const raw = createNetServer((sock) => {
      let buf = Buffer.alloc(0);
      let seen = 0;
      sock.write(h2.settings());
      sock.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < h2.PREFACE.length) return;
        const frames = h2.parseFrames(buf.subarray(h2.PREFACE.length));
        for (const fr of frames.slice(seen)) {
          if (fr.type === h2.T.SETTINGS && (fr.flags & 1) === 0) sock.write(h2.settings([], true));
          if (fr.type === h2.T.HEADERS && fr.streamId === 1) {
            sock.write(Buffer.concat([h2.headers(1, h2.indexed(8), h2.END_HEADERS), h2.data(1, Buffer.from("part of it")), h2.rstStream(1, 0)]));
          }
        }
        seen = frames.length;
      });
      sock.on("error", () => {});
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    const cutProxy = await startProxy((raw.address() as AddressInfo).port, () => verdict(true));
    try {
      const session = connect(`http://127.0.0.1:${cutProxy.port}`);
      const req = session.request({ ":path": "/cut" });
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (d: string) => (body += d));
      req.on("error", () => {});
      let ended = false;
      req.on("end", () => (ended = true));
      await new Promise<void>((r) => req.on("close", () => r()));
      expect(body).toBe("part of it");
      expect(req.rstCode).toBe(constants.NGHTTP2_INTERNAL_ERROR);
      session.close();
      await until(() => cutProxy.connectionErrors.some((e) => e.code === "L7P_ERR_H2_UPSTREAM_RESET"));
      void ended;
    } finally {
      await cutProxy.close();
      raw.close();
    }
  });

  test("an upstream reset before the response head: 503 upstream reset", async () => {
    routes.set("/reset-early", (stream) => stream.close(constants.NGHTTP2_INTERNAL_ERROR));
    const r = await request({ ":path": "/reset-early" });
    expect([r.status, r.body]).toEqual([503, "upstream connect error or disconnect/reset before headers"]);
  });

  test("a client reset reaches the upstream as RST_STREAM", async () => {
    let upstreamClosed: number | undefined;
    routes.set("/hang", (stream) => {
      stream.respond({ ":status": 200 });
      stream.write("x");
      stream.on("close", () => (upstreamClosed = stream.rstCode));
    });
    const session = connect(`http://127.0.0.1:${proxy.port}`);
    const req = session.request({ ":path": "/hang" });
    req.on("error", () => {});
    await new Promise<void>((r) => req.once("data", () => r()));
    req.close(constants.NGHTTP2_CANCEL);
    await until(() => upstreamClosed !== undefined, 5000, "upstream stream closed");
    expect(upstreamClosed).toBe(constants.NGHTTP2_CANCEL);
    session.close();
  });

  test("a slow reader: flow control stops the upstream, the proxy does not buffer the whole response", async () => {
    const total = 256 * 1024 * 1024;
    let written = 0;
    let stalled = false;
    routes.set("/firehose", (stream) => {
      stream.respond({ ":status": 200 });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = (): void => {
        while (written < total) {
          written += chunk.length;
          if (!stream.write(chunk)) {
            stalled = true;
            return void stream.once("drain", pump);
          }
        }
        stream.end();
      };
      pump();
    });
    const session = connect(`http://127.0.0.1:${proxy.port}`);
    const req = session.request({ ":path": "/firehose" });
    req.on("error", () => {});
    req.pause();
    // The client reads nothing: the upstream must stall long before it has written 256 MiB.
    await until(() => stalled, 10_000, "upstream stall");
    await new Promise((r) => setTimeout(r, 500));
    const atStall = written;
    await new Promise((r) => setTimeout(r, 500));
    expect(written).toBe(atStall);
    expect(written).toBeLessThan(48 * 1024 * 1024);
    req.close(constants.NGHTTP2_CANCEL);
    session.close();
  });

  test("drain: GOAWAY, the stream in flight finishes, new streams go to a new connection", async () => {
    let release: (() => void) | null = null;
    routes.set("/slow", (stream) => {
      stream.resume();
      release = () => {
        stream.respond({ ":status": 200 });
        stream.end("finished");
      };
    });
    const session = connect(`http://127.0.0.1:${proxy.port}`);
    session.on("error", () => {});
    let goaway = -1;
    session.on("goaway", (code) => (goaway = code));
    const req = session.request({ ":path": "/slow" });
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    const closed = new Promise<void>((r) => req.on("close", () => r()));
    await until(() => release !== null, 5000, "upstream got /slow");
    const sessionsBefore = proxy.sessions.length;
    proxy.sessions.at(-1)!.drain();
    await until(() => goaway === constants.NGHTTP2_NO_ERROR, 5000, "GOAWAY");
    release!();
    await closed;
    expect(body).toBe("finished");
    const next = await request({ ":path": "/after-drain" });
    expect(next.status).toBe(200);
    expect(proxy.sessions.length).toBeGreaterThan(sessionsBefore);
  });

  // RFC 9113 8.1: once the response is complete, a request still being sent is moot; the
  // proxy says so with RST_STREAM NO_ERROR after the response, as Envoy does. Without it a
  // client that keeps uploading holds the stream (and a concurrency slot) for ever.
  async function uploadWithoutEnd(path: string): Promise<{ session: ReturnType<typeof connect>; reply: Promise<Reply>; wrote: () => number }> {
    const session = connect(`http://127.0.0.1:${proxy.port}`);
    session.on("error", () => {});
    const req = session.request({ ":path": path, ":method": "POST" });
    const out: Reply = { status: 0, headers: {}, body: "", trailers: null, rstCode: undefined };
    let wrote = 0;
    const chunk = Buffer.alloc(1024, 0x61);
    const pump = setInterval(() => {
      if (req.closed || req.destroyed) return clearInterval(pump);
      req.write(chunk);
      wrote++;
    }, 20);
    req.on("response", (h) => {
      out.status = Number(h[":status"]);
      out.headers = h;
    });
    req.setEncoding("utf8");
    req.on("data", (d: string) => (out.body += d));
    req.on("error", () => {});
    const reply = new Promise<Reply>((resolve) =>
      req.on("close", () => {
        clearInterval(pump);
        out.rstCode = req.rstCode;
        resolve(out);
      }),
    );
    return { session, reply, wrote: () => wrote };
  }

  test("a denied request whose body never ends: 403, then RST_STREAM NO_ERROR; the connection carries on", async () => {
    const before = seen.length;
    const up = await uploadWithoutEnd("/denied/upload");
    const r = await Promise.race([up.reply, new Promise<null>((res) => setTimeout(() => res(null), 5000))]);
    expect(r).not.toBeNull();
    expect([r!.status, r!.body, r!.rstCode]).toEqual([403, "Access denied\r\n", constants.NGHTTP2_NO_ERROR]);
    expect(seen.length).toBe(before);
    // The same connection still serves other streams.
    const next = await new Promise<number>((resolve) => {
      const req = up.session.request({ ":path": "/after-upload" });
      req.on("response", (h) => resolve(Number(h[":status"])));
      req.resume();
      req.end();
    });
    expect(next).toBe(200);
    up.session.close();
  });

  test("an upstream that answers before the request body ends: the response, then RST_STREAM NO_ERROR to both sides", async () => {
    let upstreamRst: number | undefined;
    routes.set("/early", (stream) => {
      stream.on("close", () => (upstreamRst = stream.rstCode));
      stream.respond({ ":status": 200, "content-type": "text/plain" });
      stream.end("early");
    });
    const up = await uploadWithoutEnd("/early");
    const r = await Promise.race([up.reply, new Promise<null>((res) => setTimeout(() => res(null), 5000))]);
    expect(r).not.toBeNull();
    expect([r!.status, r!.body, r!.rstCode]).toEqual([200, "early", constants.NGHTTP2_NO_ERROR]);
    await until(() => upstreamRst !== undefined, 5000, "upstream stream closed");
    up.session.close();
  });
});
