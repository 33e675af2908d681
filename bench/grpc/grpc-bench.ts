// gRPC unary and plain HTTP/2 GET through l7proxy, through HAProxy 2.6 (1 thread, `proto h2`
// on bind and server, ACLs equivalent to the policy) and direct, on loopback (the HTTP/1
// benchmark's "-lo" topology: the proxies' own cost, no veth, no interception), in
// interleaved rounds:
//   - maximum requests/s with 1, 10 and 100 concurrent streams on one connection (h2load);
//   - p50/p99 at a fixed rate (3,000 requests/s by default, open loop over 10 connections).
// Upstreams: the l7test.Echo gRPC server (@grpc/grpc-js) and an h2c node:http2 server.
// l7proxy runs in plain mode (--upstream) with a policy allowing exactly the measured
// requests (POST /l7test.Echo/Unary; GET /public/.*): every stream is decided.
//   node dist-bench/bench/grpc/grpc-bench.js [--seconds S] [--rounds N] [--rate RPS] [--out DIR]

import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CLI, REPO_ROOT } from "../../src/netns/cluster.js";
import { run } from "../../src/netns/exec.js";

type Target = "direct" | "l7proxy" | "haproxy";
type Kind = "grpc" | "get";
const TARGETS: Target[] = ["direct", "l7proxy", "haproxy"];
const KINDS: Kind[] = ["grpc", "get"];
const STREAMS = [1, 10, 100];
const CLIENT_IP = "127.0.0.1";
const UPSTREAM_IP = "127.0.0.2";

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function startProcess(cmd: string, args: string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready: ${seen}`)), 20_000);
    const on = (d: Buffer): void => {
      seen += d.toString();
      if (ready.test(seen)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.once("exit", (code) => reject(new Error(`${cmd} exited ${code}: ${seen}`)));
  });
}

function policy(grpcPort: number, webPort: number): string {
  return `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bench-h2, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: bench-upstream}}
  ingress:
  - fromEndpoints: [{matchLabels: {role: bench-client}}]
    toPorts:
    - ports: [{port: "${grpcPort}", protocol: TCP}]
      rules: {http: [{method: POST, path: /l7test.Echo/Unary}]}
    - ports: [{port: "${webPort}", protocol: TCP}]
      rules: {http: [{method: GET, path: /public/.*}]}
`;
}

const ENDPOINTS = `namespaces:
  - {name: default, labels: {kubernetes.io/metadata.name: default}}
endpoints:
  - {name: bench-client, namespace: default, labels: {role: bench-client}, ips: [${CLIENT_IP}]}
  - {name: bench-upstream, namespace: default, labels: {app: bench-upstream}, ips: [${UPSTREAM_IP}]}
`;

/** HAProxy with the policy's meaning: gRPC denials as a trailers-only PERMISSION_DENIED, others 403. */
function haproxyConfig(ports: Record<Kind, { proxy: number; upstream: number }>): string {
  return `global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend grpc
  bind ${CLIENT_IP}:${ports.grpc.proxy} proto h2
  acl allowed method POST
  acl allowed_path path /l7test.Echo/Unary
  http-request return status 200 hdr content-type application/grpc hdr grpc-status 7 hdr grpc-message "Access%%20denied%%0D%%0A" unless allowed allowed_path
  default_backend grpc_upstream
backend grpc_upstream
  server s1 ${UPSTREAM_IP}:${ports.grpc.upstream} proto h2
frontend web
  bind ${CLIENT_IP}:${ports.get.proxy} proto h2
  acl allowed method GET
  acl allowed_path path_reg ^/public/.*$
  http-request deny deny_status 403 unless allowed allowed_path
  default_backend web_upstream
backend web_upstream
  server s1 ${UPSTREAM_IP}:${ports.get.upstream} proto h2
`;
}

async function waitForPort(host: string, port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on ${host}:${port}`);
}

interface Measurement {
  target: Target;
  kind: Kind;
  round: number;
  maxRps: Record<string, number>;
  latency: { achievedRps: number; p50Ms: number | null; p99Ms: number | null; failed: number };
}

async function h2loadMax(url: string, kind: Kind, streams: number, seconds: number, bodyFile: string): Promise<number> {
  const args = ["-c", "1", "-m", String(streams), "-D", String(seconds), "--warm-up-time", "1"];
  if (kind === "grpc") args.push("-d", bodyFile, "-H", "content-type: application/grpc", "-H", "te: trailers");
  const r = await run("h2load", [...args, url], { allowFail: true, timeoutMs: (seconds + 20) * 1000 });
  const m = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(r.stdout);
  const counts = /(\d+) succeeded, (\d+) failed, (\d+) errored/.exec(r.stdout);
  if (m === null || counts === null || counts[1] === "0" || counts[2] !== "0" || counts[3] !== "0") throw new Error(`h2load ${url}: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: "string", default: "3" }, rounds: { type: "string", default: "1" }, rate: { type: "string", default: "3000" }, out: { type: "string" } } });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const rate = Number(values.rate);
  const dir = await mkdtemp(join(tmpdir(), "l7proxy-grpc-bench-"));
  const children: ChildProcess[] = [];
  try {
    const ports = { grpc: { upstream: await freePort(), proxy: await freePort(), haproxy: await freePort() }, get: { upstream: await freePort(), proxy: await freePort(), haproxy: await freePort() } };
    const demo = (f: string) => join(REPO_ROOT, "dist", "demo", f);
    children.push(await startProcess(process.execPath, [demo("grpc-echo-server.js"), String(ports.grpc.upstream), UPSTREAM_IP], /listening/));
    children.push(await startProcess(process.execPath, [demo("h2-server.js"), String(ports.get.upstream), "bench"], /listening/));
    await mkdir(join(dir, "policies"));
    await writeFile(join(dir, "policies", "bench.yaml"), policy(ports.grpc.upstream, ports.get.upstream));
    await writeFile(join(dir, "endpoints.yaml"), ENDPOINTS);
    for (const k of KINDS) {
      // --log-level warn prints no "ready" line: the listener accepting says it.
      const args = [CLI, "run", "--policies", join(dir, "policies"), "--endpoints", join(dir, "endpoints.yaml"), "--upstream", `${UPSTREAM_IP}:${ports[k].upstream}`, "--proxy-host", CLIENT_IP, "--proxy-port", String(ports[k].proxy), "--admin", "off", "--log-level", "warn"];
      children.push(spawn(process.execPath, args, { stdio: ["ignore", "ignore", "inherit"] }));
      await waitForPort(CLIENT_IP, ports[k].proxy);
    }
    await writeFile(join(dir, "haproxy.cfg"), haproxyConfig({ grpc: { proxy: ports.grpc.haproxy, upstream: ports.grpc.upstream }, get: { proxy: ports.get.haproxy, upstream: ports.get.upstream } }));
    const check = await run("haproxy", ["-c", "-f", join(dir, "haproxy.cfg")], { allowFail: true });
    if (check.code !== 0) throw new Error(`haproxy config: ${check.stderr}`);
    const haproxy = spawn("haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: "ignore" });
    children.push(haproxy);
    const body = join(dir, "grpc-body.bin");
    await writeFile(body, Buffer.from([0, 0, 0, 0, 4, 1, 2, 3, 4]));
    await new Promise((r) => setTimeout(r, 1500));
    const urlOf = (t: Target, k: Kind): string => {
      const port = t === "direct" ? ports[k].upstream : t === "l7proxy" ? ports[k].proxy : ports[k].haproxy;
      const host = t === "direct" ? UPSTREAM_IP : CLIENT_IP;
      return `http://${host}:${port}${k === "grpc" ? "/l7test.Echo/Unary" : "/public/bench"}`;
    };
    const results: Measurement[] = [];
    for (let round = 1; round <= rounds; round++) {
      // Rotate the target order each round so that no target always runs first.
      const order = TARGETS.map((_, i) => TARGETS[(i + round - 1) % TARGETS.length]!);
      for (const kind of KINDS) {
        for (const target of order) {
          const url = urlOf(target, kind);
          const maxRps: Record<string, number> = {};
          for (const m of STREAMS) maxRps[String(m)] = await h2loadMax(url, kind, m, seconds, body);
          const base = url.slice(0, url.indexOf("/", 7));
          const lat = await run(process.execPath, [join(REPO_ROOT, "dist-bench", "bench", "grpc", "h2-latency.js"), base, String(rate), String(seconds), "10", kind], { timeoutMs: (seconds + 30) * 1000 });
          const latency = JSON.parse(lat.stdout.trim()) as Measurement["latency"];
          results.push({ target, kind, round, maxRps, latency });
          process.stderr.write(`${kind} ${target} round ${round}: max rps ${STREAMS.map((m) => `${m}:${Math.round(maxRps[String(m)]!)}`).join(" ")}; at ${rate} rps p50 ${latency.p50Ms?.toFixed(2)} ms p99 ${latency.p99Ms?.toFixed(2)} ms (failed ${latency.failed})\n`);
        }
      }
    }
    const table = ["| request | target | max rps, 1 stream | 10 streams | 100 streams | p50 at rate (ms) | p99 at rate (ms) |", "|---|---|---|---|---|---|---|"];
    for (const kind of KINDS) {
      for (const target of TARGETS) {
        const rs = results.filter((r) => r.kind === kind && r.target === target);
        const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        table.push(`| ${kind === "grpc" ? "gRPC unary" : "HTTP/2 GET"} | ${target} | ${STREAMS.map((m) => Math.round(med(rs.map((r) => r.maxRps[String(m)]!)))).join(" | ")} | ${med(rs.map((r) => r.latency.p50Ms ?? NaN)).toFixed(2)} | ${med(rs.map((r) => r.latency.p99Ms ?? NaN)).toFixed(2)} |`);
      }
    }
    process.stdout.write(`${table.join("\n")}\n`);
    if (values.out !== undefined) {
      await mkdir(values.out, { recursive: true });
      await writeFile(join(values.out, "grpc-bench.json"), JSON.stringify({ seconds, rounds, rate, results }, null, 2));
    }
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
