// The generated HAProxy must decide exactly as l7proxy's policy engine does. A real HAProxy
// (plain listener on loopback) forwards to a real upstream; clients bound to different
// loopback addresses play the policy's peers; every answer is compared with what the engine
// decides for the same request.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { renderHaproxyConfig } from "../../../../bench/load/haproxy/haproxy-config.js";
import { portPolicyFor } from "../../../../bench/load/haproxy/port-policy.js";
import { compilePolicies } from "../../../../src/policy/compile/index.js";
import { parseEndpointsText } from "../../../../src/policy/endpoints/load-endpoints.js";
import { parsePolicyText } from "../../../../src/policy/load/index.js";

const haproxyAvailable = spawnSync("haproxy", ["-v"]).status === 0;
if (!haproxyAvailable && process.env.CI !== "true") console.warn("haproxy not installed: skipping the HAProxy equivalence test");

const SERVER_IP = "127.0.0.20";
const inventory = parseEndpointsText(
  `endpoints:
  - {name: api, namespace: default, labels: {app: api}, ips: [${SERVER_IP}]}
  - {name: web, namespace: default, labels: {role: web}, ips: [127.0.0.11]}
  - {name: admin, namespace: default, labels: {role: admin}, ips: [127.0.0.12]}
  - {name: stranger, namespace: default, labels: {role: other}, ips: [127.0.0.13]}
`,
  "endpoints.yaml",
);

const POLICY = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: api}}
  ingress:
  - fromEndpoints: [{matchLabels: {role: web}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
      rules:
        http:
        - {method: "GET|HEAD", path: "/items(/[0-9]+)?"}
        - {method: GET, path: /health}
        - {method: POST, path: /orders, headers: ["X-Token: s3cret"]}
        - {method: PUT, path: "/orders/.*", headers: ["X-Trace"]}
        - {method: GET, path: "/hosted", host: "api\\\\.example\\\\.com(:[0-9]+)?"}
  - fromEndpoints: [{matchLabels: {role: admin}}]
    toPorts:
    - ports: [{port: "80", protocol: TCP}]
`;

interface Case {
  from: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
}

const CASES: Case[] = [
  { from: "127.0.0.11", method: "GET", path: "/items" },
  { from: "127.0.0.11", method: "GET", path: "/items/42" },
  { from: "127.0.0.11", method: "GET", path: "/items/42x" },
  { from: "127.0.0.11", method: "GET", path: "/items?page=2" },
  { from: "127.0.0.11", method: "DELETE", path: "/items" },
  { from: "127.0.0.11", method: "GET", path: "/health" },
  { from: "127.0.0.11", method: "GET", path: "/health/" },
  { from: "127.0.0.11", method: "POST", path: "/orders", headers: { "X-Token": "s3cret" } },
  { from: "127.0.0.11", method: "POST", path: "/orders", headers: { "X-Token": "wrong" } },
  { from: "127.0.0.11", method: "POST", path: "/orders" },
  { from: "127.0.0.11", method: "PUT", path: "/orders/7", headers: { "X-Trace": "abc" } },
  { from: "127.0.0.11", method: "PUT", path: "/orders/7" },
  { from: "127.0.0.11", method: "GET", path: "/hosted", headers: { Host: "api.example.com" } },
  { from: "127.0.0.11", method: "GET", path: "/hosted", headers: { Host: "api.example.com:8080" } },
  { from: "127.0.0.11", method: "GET", path: "/hosted", headers: { Host: "evil.example.com" } },
  { from: "127.0.0.12", method: "DELETE", path: "/anything" },
  { from: "127.0.0.13", method: "GET", path: "/items" },
];

type Outcome = "forwarded" | "403" | "refused";

function engineVerdict(c: Case): Outcome {
  const r = parsePolicyText(POLICY, "policy.yaml");
  const { snapshot } = compilePolicies(r.policies, inventory);
  const q = { srcIp: c.from, dstIp: SERVER_IP, dstPort: 80, protocol: "TCP" as const };
  const flow = snapshot.decideFlow(q);
  if (!flow.allowed) return "refused";
  if (flow.l7 === null) return "forwarded";
  const headers = new Map(Object.entries(c.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const host = headers.get("host") ?? "";
  const verdict = snapshot.decideHttp(flow, q, { method: c.method, path: c.path, host, header: (n) => headers.get(n) });
  return verdict.allowed ? "forwarded" : "403";
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createNetServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function send(port: number, c: Case): Promise<{ outcome: Outcome; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      { host: "127.0.0.1", port, method: c.method, path: c.path, localAddress: c.from, headers: { Host: "api", ...c.headers }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ outcome: res.headers["x-upstream"] === "yes" ? "forwarded" : res.statusCode === 403 ? "403" : "refused", body }));
      },
    );
    req.on("error", () => resolve({ outcome: "refused", body: "" }));
    req.end();
  });
}

describe.skipIf(!haproxyAvailable && process.env.CI !== "true")("generated HAProxy ACLs decide as the policy engine", () => {
  let dir = "";
  let upstream: Server;
  let haproxy: ChildProcess | null = null;
  let port = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bench-haproxy-eq-"));
    upstream = createServer((_req, res) => res.writeHead(200, { "x-upstream": "yes" }).end("ok"));
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const upstreamPort = (upstream.address() as { port: number }).port;
    port = await freePort();
    const r = parsePolicyText(POLICY, "policy.yaml");
    const rendered = renderHaproxyConfig(portPolicyFor(r.policies, inventory, "api", 80), {
      bind: `127.0.0.1:${port}`,
      server: `127.0.0.1:${upstreamPort}`,
      patternDir: dir,
      maxconn: 100,
    });
    for (const f of rendered.files) await writeFile(f.path, f.content);
    await writeFile(join(dir, "haproxy.cfg"), rendered.config);
    haproxy = spawn("haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: "ignore" });
    for (let i = 0; i < 100; i++) {
      if ((await send(port, { from: "127.0.0.12", method: "GET", path: "/" })).outcome === "forwarded") break;
      await new Promise((res) => setTimeout(res, 50));
    }
  });

  afterAll(async () => {
    haproxy?.kill("SIGKILL");
    await new Promise<void>((r) => upstream.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  test("every case gets the engine's verdict", async () => {
    const got: string[] = [];
    const want: string[] = [];
    for (const c of CASES) {
      const label = `${c.from} ${c.method} ${c.path} ${JSON.stringify(c.headers ?? {})}`;
      got.push(`${label} -> ${(await send(port, c)).outcome}`);
      want.push(`${label} -> ${engineVerdict(c)}`);
    }
    expect(got).toEqual(want);
    // The cases exercise all three outcomes, or the comparison proves little.
    expect(new Set(want.map((w) => w.split(" -> ")[1]))).toEqual(new Set(["forwarded", "403", "refused"]));
  });

  test("denied requests get Envoy's body", async () => {
    const r = await send(port, { from: "127.0.0.11", method: "DELETE", path: "/items" });
    expect(r).toEqual({ outcome: "403", body: "Access denied\r\n" });
  });
});
