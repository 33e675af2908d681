// Hostile HTTP/2 clients, frames written by hand: each abuse is refused (stream or connection),
// counted under its own error code, never reaches the upstream as a request it should not,
// and never disturbs another connection, whose requests keep working throughout.
import { connect as connectH2, createServer, type Http2Server } from "node:http2";
import { connect, type AddressInfo, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ErrorCode } from "../../../src/errors/codes.js";
import * as f from "../../support/h2-frames.js";
import { startProxy, until, verdict, type ProxyUnderTest } from "./harness.js";

let upstream: Http2Server;
const upstreamPaths: string[] = [];
let proxy: ProxyUnderTest;

beforeAll(async () => {
  upstream = createServer();
  upstream.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    upstreamPaths.push(String(headers[":path"]));
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  proxy = await startProxy((upstream.address() as AddressInfo).port, () => verdict(true));
});
afterAll(async () => {
  await proxy?.close();
  upstream?.close();
});

interface RawClient {
  socket: Socket;
  received(): ReturnType<typeof f.parseFrames>;
  closed: Promise<void>;
}

/** A raw client: preface and SETTINGS sent, everything else up to the test. */
async function rawClient(): Promise<RawClient> {
  const socket = connect(proxy.port, "127.0.0.1");
  let got = Buffer.alloc(0);
  socket.on("data", (d: Buffer) => (got = Buffer.concat([got, d])));
  socket.on("error", () => {});
  const closed = new Promise<void>((r) => socket.on("close", () => r()));
  await new Promise<void>((r) => socket.once("connect", () => r()));
  socket.write(Buffer.concat([f.PREFACE, f.settings()]));
  return { socket, received: () => f.parseFrames(got), closed };
}

/** A well-behaved client on its own connection: must keep getting answers. */
async function bystanderOk(): Promise<boolean> {
  const s = connectH2(`http://127.0.0.1:${proxy.port}`);
  s.on("error", () => {});
  try {
    return await new Promise<boolean>((resolve) => {
      const req = s.request({ ":path": "/bystander" });
      req.on("response", (h) => resolve(h[":status"] === 200));
      req.on("error", () => resolve(false));
      req.resume();
      req.end();
    });
  } finally {
    s.close();
  }
}

const count = (code: ErrorCode): number => proxy.parseErrors.filter((c) => c === code).length;

async function expectGoaway(c: RawClient, h2Code: number, code: ErrorCode, before: number): Promise<void> {
  await until(() => c.received().some((fr) => fr.type === f.T.GOAWAY), 5000, "GOAWAY");
  const goaway = c.received().find((fr) => fr.type === f.T.GOAWAY)!;
  expect(goaway.word1).toBe(h2Code);
  await c.closed;
  expect(count(code)).toBe(before + 1);
}

const ENHANCE_YOUR_CALM = 0xb;
const PROTOCOL_ERROR = 0x1;
const REFUSED_STREAM = 0x7;

describe("hostile HTTP/2 clients", () => {
  test("rapid reset (CVE-2023-44487): GOAWAY ENHANCE_YOUR_CALM, and the resets do not become upstream requests", async () => {
    const before = count("L7P_ERR_H2_RAPID_RESET");
    const upBefore = upstreamPaths.length;
    const c = await rawClient();
    const frames: Buffer[] = [];
    for (let i = 0; i < 2000; i++) frames.push(f.headers(1 + 2 * i, f.requestBlock(`/rapid/${i}`)), f.rstStream(1 + 2 * i));
    c.socket.write(Buffer.concat(frames));
    await expectGoaway(c, ENHANCE_YOUR_CALM, "L7P_ERR_H2_RAPID_RESET", before);
    // Streams reset in the read that opened them are dropped before they are decided.
    expect(upstreamPaths.length - upBefore).toBeLessThan(500);
    expect(await bystanderOk()).toBe(true);
  });

  test("CONTINUATION flood: GOAWAY ENHANCE_YOUR_CALM before nghttp2 has to assemble it", async () => {
    const before = count("L7P_ERR_H2_CONTINUATION_FLOOD");
    const c = await rawClient();
    const frames = [f.headers(1, f.requestBlock("/"), f.END_STREAM)];
    for (let i = 0; i < 10_000; i++) frames.push(f.continuation(1, f.literal(`x-${i}`, "v")));
    c.socket.write(Buffer.concat(frames));
    await expectGoaway(c, ENHANCE_YOUR_CALM, "L7P_ERR_H2_CONTINUATION_FLOOD", before);
    expect(await bystanderOk()).toBe(true);
  });

  test("HPACK bomb: a small block that decodes past the header list limit refuses the stream, not the connection", async () => {
    const before = count("L7P_ERR_H2_HEADERS_TOO_LARGE");
    const c = await rawClient();
    // One 4000-byte value into the dynamic table (index 62), then 4000 one-byte references to it: 16 MB decoded.
    const block = Buffer.concat([f.requestBlock("/bomb"), f.literalIndexed("x-bomb", "a".repeat(4000)), Buffer.alloc(4000, 0x80 | 62)]);
    c.socket.write(Buffer.concat([f.headers(1, block), f.headers(3, f.requestBlock("/after-bomb"))]));
    await until(() => c.received().some((fr) => fr.type === f.T.HEADERS && fr.streamId === 3), 5000, "answer on stream 3");
    const rst = c.received().find((fr) => fr.type === f.T.RST_STREAM && fr.streamId === 1);
    expect(rst?.word0).toBe(ENHANCE_YOUR_CALM);
    expect(upstreamPaths).not.toContain("/bomb");
    expect(upstreamPaths).toContain("/after-bomb");
    expect(count("L7P_ERR_H2_HEADERS_TOO_LARGE")).toBe(before + 1);
    c.socket.destroy();
  });

  test("too many header fields: the stream is refused, the next one answered", async () => {
    const before = count("L7P_ERR_H2_HEADERS_TOO_LARGE");
    const c = await rawClient();
    const many = f.requestBlock("/many", Array.from({ length: 200 }, (_, i): [string, string] => [`x-h${i}`, "v"]));
    c.socket.write(Buffer.concat([f.headers(1, many), f.headers(3, f.requestBlock("/after-many"))]));
    await until(() => c.received().some((fr) => fr.type === f.T.HEADERS && fr.streamId === 3), 5000, "answer on stream 3");
    expect(c.received().find((fr) => fr.type === f.T.RST_STREAM && fr.streamId === 1)?.word0).toBe(ENHANCE_YOUR_CALM);
    expect(count("L7P_ERR_H2_HEADERS_TOO_LARGE")).toBe(before + 1);
    c.socket.destroy();
  });

  test("SETTINGS flood: GOAWAY ENHANCE_YOUR_CALM", async () => {
    const before = count("L7P_ERR_H2_SETTINGS_FLOOD");
    const c = await rawClient();
    c.socket.write(Buffer.concat(Array.from({ length: 10_000 }, () => f.settings([[3, 100]]))));
    await expectGoaway(c, ENHANCE_YOUR_CALM, "L7P_ERR_H2_SETTINGS_FLOOD", before);
    expect(await bystanderOk()).toBe(true);
  });

  test("PING flood: GOAWAY ENHANCE_YOUR_CALM", async () => {
    const before = count("L7P_ERR_H2_PING_FLOOD");
    const c = await rawClient();
    c.socket.write(Buffer.concat(Array.from({ length: 100_000 }, () => f.ping())));
    await expectGoaway(c, ENHANCE_YOUR_CALM, "L7P_ERR_H2_PING_FLOOD", before);
    expect(await bystanderOk()).toBe(true);
  });

  test("too many concurrent streams: the ones past the bound are refused (REFUSED_STREAM)", async () => {
    const before = count("L7P_ERR_H2_TOO_MANY_STREAMS");
    const c = await rawClient();
    // Open streams that never end (no END_STREAM): 100 fit, 50 do not.
    const frames: Buffer[] = [];
    for (let i = 0; i < 150; i++) frames.push(f.headers(1 + 2 * i, f.requestBlock(`/open/${i}`, [], "POST"), f.END_HEADERS));
    c.socket.write(Buffer.concat(frames));
    await until(() => c.received().filter((fr) => fr.type === f.T.RST_STREAM && fr.word0 === REFUSED_STREAM).length === 50, 5000, "50 refusals");
    await until(() => count("L7P_ERR_H2_TOO_MANY_STREAMS") === before + 50, 5000, "50 counted");
    expect(await bystanderOk()).toBe(true);
    c.socket.destroy();
  });

  test("invalid frames: GOAWAY PROTOCOL_ERROR (FRAME_SIZE_ERROR for bad lengths), connection closed", async () => {
    const cases: [Buffer, number][] = [
      [f.data(0, Buffer.from("x")), PROTOCOL_ERROR],
      [f.frame(f.T.SETTINGS, 0, 1, Buffer.alloc(6)), PROTOCOL_ERROR],
      [f.frame(f.T.PUSH_PROMISE, 4, 1, Buffer.alloc(4)), PROTOCOL_ERROR],
      [f.frame(f.T.PING, 0, 0, Buffer.alloc(3)), 0x6],
      // A header block that is not valid HPACK: found by nghttp2, which writes its own GOAWAY.
      [f.headers(1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), 0x9],
    ];
    for (const [bad, code] of cases) {
      const before = count("L7P_ERR_H2_PROTOCOL");
      const c = await rawClient();
      c.socket.write(bad);
      await until(() => c.received().some((fr) => fr.type === f.T.GOAWAY), 5000, "GOAWAY");
      expect(c.received().find((fr) => fr.type === f.T.GOAWAY)!.word1).toBe(code);
      await c.closed;
      expect(count("L7P_ERR_H2_PROTOCOL")).toBe(before + 1);
    }
    expect(await bystanderOk()).toBe(true);
  });

  test("malformed request headers (upper-case name): the stream is reset, the connection lives", async () => {
    const before = count("L7P_ERR_H2_STREAM");
    const c = await rawClient();
    c.socket.write(Buffer.concat([f.headers(1, f.requestBlock("/upper", [["X-Upper", "v"]])), f.headers(3, f.requestBlock("/after-upper"))]));
    await until(() => c.received().some((fr) => fr.type === f.T.HEADERS && fr.streamId === 3), 5000, "answer on stream 3");
    expect(c.received().find((fr) => fr.type === f.T.RST_STREAM && fr.streamId === 1)?.word0).toBe(PROTOCOL_ERROR);
    expect(upstreamPaths).not.toContain("/upper");
    expect(count("L7P_ERR_H2_STREAM")).toBe(before + 1);
    c.socket.destroy();
  });
});
