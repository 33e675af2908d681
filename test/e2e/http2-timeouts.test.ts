// HTTP/2 stream timeouts through `l7proxy run` itself (plain mode, --upstream): the flags reach
// the HTTP/2 data path, and a timed-out stream is counted and recorded as the HTTP/1 504 is.
// --request-timeout-ms 300: an upstream stream that never answers gets curl a 504 "upstream
// request timeout"; --max-grpc-timeout-ms 200 caps a gRPC call's grpc-timeout: 30S to
// DEADLINE_EXCEEDED. Connection errors, hubble and gRPC metrics, and the flow records say so.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { connect, constants, createServer, type Http2Server } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI, waitForOutput } from "../../src/netns/cluster.js";
import { run } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("HTTP/2 timeouts in plain mode (transparent socket needs CAP_NET_ADMIN)");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const PROXY_PORT = 21000 + (process.pid % 1000);
const UPSTREAM_PORT = 22000 + (process.pid % 1000);
const ADMIN_PORT = 23000 + (process.pid % 1000);

const POLICY = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: local-h2, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: local}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: local}}]
      toPorts:
        - ports: [{port: "${UPSTREAM_PORT}", protocol: TCP}]
          rules: {http: [{path: "/.*"}]}
`;

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = new Map([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

describe.runIf(canRun)("l7proxy run: HTTP/2 stream timeouts", () => {
  let upstream: Http2Server;
  let proxy: ChildProcess;
  const upstreamResets: number[] = [];
  const admin = async (path: string): Promise<string> => (await fetch(`http://127.0.0.1:${ADMIN_PORT}${path}`)).text();

  beforeAll(async () => {
    // Reads every request and answers none (a gRPC server would keep its own deadline).
    upstream = createServer();
    upstream.on("stream", (s) => {
      s.on("error", () => {});
      s.on("close", () => upstreamResets.push(s.rstCode ?? -1));
      s.resume();
    });
    await new Promise<void>((r) => upstream.listen(UPSTREAM_PORT, "127.0.0.1", r));
    const dir = await mkdtemp(join(tmpdir(), "l7p-h2t-"));
    await writeFile(join(dir, "policy.yaml"), POLICY);
    proxy = spawn(process.execPath, [
      CLI, "run", "--upstream", `127.0.0.1:${UPSTREAM_PORT}`, "--proxy-host", "127.0.0.1", "--proxy-port", String(PROXY_PORT),
      "--policies", join(dir, "policy.yaml"), "--endpoints", join(FIX, "loopback-endpoints.yaml"), "--admin", `127.0.0.1:${ADMIN_PORT}`,
      "--request-timeout-ms", "300", "--max-grpc-timeout-ms", "200",
    ]);
    await waitForOutput(proxy, /"msg":"l7proxy ready"/);
  }, 30_000);
  afterAll(async () => {
    proxy?.kill("SIGTERM");
    upstream?.close();
  });

  test("504 upstream request timeout and a capped gRPC deadline, counted and recorded", async () => {
    const before = await admin("/metrics");
    const plain = await run("curl", ["-sS", "--http2-prior-knowledge", "-m", "10", "-w", "|%{http_code}|%{http_version}", `http://127.0.0.1:${PROXY_PORT}/never`]);
    expect(plain.stdout).toBe("upstream request timeout|504|2");

    const session = connect(`http://127.0.0.1:${PROXY_PORT}`);
    session.on("error", () => {});
    const grpcHead = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": "/l7test.Echo/Unary", "content-type": "application/grpc", te: "trailers", "grpc-timeout": "30S" });
      req.on("response", (h) => resolve(h));
      req.on("error", reject);
      req.resume();
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      setTimeout(() => reject(new Error("no answer within 10 s")), 10_000).unref();
    });
    session.close();
    expect(grpcHead).toMatchObject({ ":status": 200, "grpc-status": "4", "grpc-message": "downstream%20duration%20timeout" });
    for (let i = 0; i < 500 && upstreamResets.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(upstreamResets).toEqual([constants.NGHTTP2_CANCEL, constants.NGHTTP2_CANCEL]);

    const after = await admin("/metrics");
    const delta = (name: string, labels: Record<string, string>): number => metric(after, name, labels) - metric(before, name, labels);
    expect(delta("l7proxy_connection_errors_total", { code: "L7P_ERR_TIMEOUT" })).toBe(1);
    expect(delta("l7proxy_connection_errors_total", { code: "L7P_ERR_GRPC_DEADLINE" })).toBe(1);
    expect(delta("hubble_http_requests_total", { protocol: "HTTP/2", status: "504" })).toBe(1);
    expect(delta("l7proxy_grpc_requests_total", { grpc_method: "Unary", grpc_status: "DEADLINE_EXCEEDED" })).toBe(1);

    const flows = (await admin("/flows"))
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as { verdict: string; http?: { url: string; code: number; protocol: string; grpc?: { status: number | null } } });
    expect(flows.find((f) => f.http?.url === "/never")).toMatchObject({ verdict: "FORWARDED", http: { code: 504, protocol: "HTTP/2" } });
    expect(flows.find((f) => f.http?.url === "/l7test.Echo/Unary")).toMatchObject({ verdict: "FORWARDED", http: { code: 200, grpc: { status: 4 } } });
  });

  test("run --help documents both options", async () => {
    const help = await run(process.execPath, [CLI, "run", "--help"]);
    expect(help.stdout).toMatch(/--request-timeout-ms N\s+time from the end of a forwarded request/);
    expect(help.stdout).toMatch(/--max-grpc-timeout-ms N\s+cap on the deadline a gRPC call's grpc-timeout header sets.*\(default 0\)/);
  });
});
