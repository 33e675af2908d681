import { describe, expect, test } from "vitest";
import { GRPC_DENY_RESPONDER, HTTP2_DENY_RESPONDER } from "../../../../src/datapath/http2/denied-reply.js";
import { grpcCallOf, grpcTimeoutMs, isGrpcContentType, percentEncodeGrpcMessage } from "../../../../src/datapath/http2/grpc.js";
import { matchPreface } from "../../../../src/datapath/http2/preface.js";
import type { L7Verdict } from "../../../../src/policy/decision.js";

const DENIED = {} as L7Verdict;

describe("gRPC facts", () => {
  test("gRPC is content-type application/grpc or application/grpc+..., as Envoy decides", () => {
    expect(["application/grpc", "application/grpc+proto", "application/grpc+json"].map(isGrpcContentType)).toEqual([true, true, true]);
    expect(["application/grpc-web", "application/grpc;charset=utf-8", "application/json", undefined].map(isGrpcContentType)).toEqual([false, false, false, false]);
  });

  test("service and method from a two-token path, query stripped", () => {
    expect(grpcCallOf("/cloudcity.DoorManager/SetAccessCode")).toEqual({ service: "cloudcity.DoorManager", method: "SetAccessCode" });
    expect(grpcCallOf("/s/m?x=1")).toEqual({ service: "s", method: "m" });
    expect(["/", "/only", "/a/b/c", "//m", "/s/"].map(grpcCallOf)).toEqual([null, null, null, null, null]);
  });

  test("grpc-timeout units", () => {
    expect(["1S", "250m", "2M", "1H", "5000u", "x", "123456789S"].map((v) => grpcTimeoutMs(v))).toEqual([1000, 250, 120_000, 3_600_000, 5, null, null]);
  });

  test("grpc-timeout: micro- and nanoseconds round up to whole milliseconds, as Envoy's getGrpcTimeout", () => {
    expect(["1u", "1001u", "3000000n", "1500000n", "1n", "0m", "0n", "99999999H"].map((v) => grpcTimeoutMs(v))).toEqual([1, 2, 3, 2, 1, 0, 0, 99_999_999 * 3_600_000]);
  });

  test("a malformed grpc-timeout counts as absent", () => {
    expect(["", "S", "10", "10s", "1.5S", "-1S", " 1S", "1S ", "1 S", "10Sx", "0x10m"].map((v) => grpcTimeoutMs(v))).toEqual(Array(11).fill(null));
    expect(grpcTimeoutMs(undefined)).toBeNull();
  });

  test("grpc-message percent-encoding matches Envoy's deny", () => {
    expect(percentEncodeGrpcMessage("Access denied\r\n")).toBe("Access%20denied%0D%0A");
  });
});

describe("deny responders", () => {
  test("gRPC: trailers-only, grpc-status 7, Envoy's grpc-message", () => {
    const r = GRPC_DENY_RESPONDER.deny({ method: "POST", grpc: true }, DENIED);
    expect(r.body).toBeNull();
    expect(r.headers).toEqual({ ":status": 200, "content-type": "application/grpc", "grpc-status": "7", "grpc-message": "Access%20denied%0D%0A" });
  });

  test("other requests: 403 text/plain Access denied, headers only for HEAD", () => {
    const r = HTTP2_DENY_RESPONDER.deny({ method: "GET", grpc: false }, DENIED);
    expect(r.headers).toMatchObject({ ":status": 403, "content-type": "text/plain", "content-length": "15" });
    expect(r.body?.toString()).toBe("Access denied\r\n");
    expect(HTTP2_DENY_RESPONDER.deny({ method: "HEAD", grpc: false }, DENIED).body).toBeNull();
  });
});

describe("preface sniffing", () => {
  const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  test("decides as soon as the bytes differ, waits for all 24 otherwise", () => {
    expect(matchPreface(Buffer.from("GET / HTTP/1.1\r\n"))).toBe("http1");
    expect(matchPreface(Buffer.from("PRI * HTTP/1.1"))).toBe("http1");
    expect(matchPreface(preface.subarray(0, 1))).toBe("more");
    expect(matchPreface(preface.subarray(0, 23))).toBe("more");
    expect(matchPreface(preface)).toBe("h2");
    expect(matchPreface(Buffer.concat([preface, Buffer.from([0, 0, 0, 4])]))).toBe("h2");
  });
});
