// gRPC and HTTP/2 on real traffic: TPROXY hands the connections to `l7proxy run`, which sniffs
// the HTTP/2 preface and enforces per stream. Cilium's gRPC example (cloudcity.DoorManager),
// every kind of RPC with @grpc/grpc-js on both ends, curl --http2-prior-knowledge and h2load
// for plain HTTP/2, and the metrics, flow records and `observe` lines they leave.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI, NetnsCluster, REPO_ROOT } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("gRPC / HTTP/2 e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const DOORS = "10.205.0.10:50051";
const ECHO = "10.205.0.30:50051";
const WEB = "http://10.205.0.40:8080";

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? ([0-9.eE+-]+|NaN)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

// Every kind of RPC from the client pod, with @grpc/grpc-js; one JSON line of results.
const ECHO_SCENARIO = `
import { echoClient, loadGrpc, pattern, sha256 } from ${JSON.stringify(join(REPO_ROOT, "dist/demo/grpc-echo-server.js"))};
const grpc = await loadGrpc();
const c = await echoClient(process.argv[1]);
const md = (o = {}) => { const m = new grpc.Metadata(); for (const [k, v] of Object.entries(o)) m.set(k, v); return m; };
const unary = (b, meta = {}, opts = {}) => new Promise((res) => c.Unary(b, md(meta), opts, (e, r) => res(e ? { code: e.code, details: e.details } : { digest: sha256(r) })));
const out = {};
const big = pattern(16 << 20, 3);
out.unary16MiB = (await unary(big)).digest === sha256(big);
out.unaryEmpty = (await unary(Buffer.alloc(0))).digest === sha256(Buffer.alloc(0));
out.upload = await new Promise((res) => { const call = c.Upload(md(), {}, (e, r) => res(e ? e.code : r.toString().split(" ").slice(0, 2).join(" "))); for (let i = 0; i < 100; i++) call.write(pattern(1000, i)); call.end(); });
out.download = await new Promise((res) => { let n = 0; const call = c.Download(Buffer.alloc(0), md({ "x-count": "100", "x-size": "10000" })); call.on("data", () => n++); call.on("error", (e) => res(e.code)); call.on("end", () => res(n)); });
out.chat = await new Promise((res) => { const got = []; const call = c.Chat(md()); call.on("data", (m) => got.push(m.toString())); call.on("error", (e) => res(e.code)); call.on("end", () => res(got.join(","))); for (const w of ["a", "b", "c"]) call.write(Buffer.from(w)); call.end(); });
out.deadline = (await unary(Buffer.from("x"), { "x-delay-ms": "3000" }, { deadline: Date.now() + 300 })).code;
out.forbidden = await new Promise((res) => c.Forbidden(Buffer.from("x"), md(), {}, (e) => res(e ? { code: e.code, details: e.details } : "allowed")));
c.close();
process.stdout.write(JSON.stringify(out) + "\\n");
`;

describe.runIf(canRun)("gRPC and HTTP/2 policies on real traffic", () => {
  const cluster = new NetnsCluster(`g2${process.pid % 100000}`, {
    endpointsFile: join(FIX, "grpc-endpoints.yaml"),
    adminPort: 9911,
    servers: [
      { pod: "cc-door-mgr", script: "demo/cloudcity.js", args: ["serve", "50051"] },
      { pod: "echo-grpc", script: "demo/grpc-echo-server.js", args: ["50051"] },
      { pod: "web-h2", script: "demo/h2-server.js", args: ["8080", "web-h2"] },
    ],
  });
  const metrics = async (): Promise<string> => (await cluster.admin("/metrics")).body;
  const inPod = (pod: string, cmd: string, args: string[], timeoutMs = 60_000) =>
    runIn(cluster.topo.pod(pod).netns, cmd, args, { allowFail: true, timeoutMs });

  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies([join(REPO_ROOT, "proxy-config/cloudcity/grpc-policy.yaml"), join(FIX, "grpc-echo-policy.yaml")]);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("Cloud City: GetName, GetLocation, RequestMaintenance allowed; SetAccessCode PERMISSION_DENIED", async () => {
    const before = await metrics();
    const results: Record<string, { ok: boolean; status?: string; details?: string }> = {};
    for (const m of ["GetName", "GetLocation", "RequestMaintenance", "SetAccessCode"]) {
      const r = await inPod("terminal-87", process.execPath, [join(REPO_ROOT, "dist/demo/cloudcity.js"), "call", DOORS, m]);
      results[m] = JSON.parse(r.stdout);
    }
    expect(results.GetName).toMatchObject({ ok: true, reply: { name: "Spaceport Door #1" } });
    expect(results.GetLocation!.ok).toBe(true);
    expect(results.RequestMaintenance).toMatchObject({ ok: true, reply: { success: true } });
    expect(results.SetAccessCode).toMatchObject({ ok: false, status: "PERMISSION_DENIED", details: "Access denied\r\n" });

    const after = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}) => metric(after, name, labels) - metric(before, name, labels);
    // One stream per call; hubble counts them as HTTP/2; the denial is counted by policy.
    expect(delta("envoy_http_rq_total")).toBe(4);
    expect(delta("hubble_http_requests_total", { protocol: "HTTP/2", destination_workload: "cc-door-mgr" })).toBe(4);
    expect(delta("hubble_policy_verdicts_total", { match: "l7/http", action: "dropped" })).toBe(1);
    expect(delta("l7proxy_grpc_requests_total", { grpc_service: "cloudcity.DoorManager", grpc_method: "SetAccessCode", grpc_status: "PERMISSION_DENIED" })).toBe(1);
    expect(delta("l7proxy_grpc_requests_total", { grpc_service: "cloudcity.DoorManager", grpc_status: "OK" })).toBe(3);

    const flows = (await cluster.admin("/flows")).body
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as { verdict: string; http?: { protocol: string; grpc?: { service: string; method: string; status: number | null } } });
    const denied = flows.find((f) => f.http?.grpc?.method === "SetAccessCode");
    expect(denied).toMatchObject({ verdict: "DROPPED", http: { protocol: "HTTP/2", grpc: { service: "cloudcity.DoorManager", method: "SetAccessCode", status: 7 } } });
    expect(flows.find((f) => f.http?.grpc?.method === "GetName")).toMatchObject({ verdict: "FORWARDED", http: { grpc: { status: 0 } } });

    const observe = await runIn(cluster.topo.nodeNetns, process.execPath, [CLI, "observe", "--admin", `127.0.0.1:${cluster.adminPort}`, "--no-color"], { allowFail: true });
    expect(observe.stdout).toContain("grpc /cloudcity.DoorManager/SetAccessCode PERMISSION_DENIED");
    expect(observe.stdout).toContain("grpc /cloudcity.DoorManager/GetName OK");
  });

  test("every kind of RPC through the proxy: 16 MiB unary, client/server streaming, bidi, deadline, denial", async () => {
    const r = await inPod("client", process.execPath, ["--input-type=module", "-e", ECHO_SCENARIO, ECHO]);
    expect(JSON.parse(r.stdout)).toEqual({
      unary16MiB: true,
      unaryEmpty: true,
      upload: "100 100000",
      download: 100,
      chat: "a,b,c",
      deadline: 4,
      forbidden: { code: 7, details: "Access denied\r\n" },
    });
  }, 90_000);

  test("curl --http2-prior-knowledge: allowed GET forwarded over HTTP/2, denied one 403 Access denied", async () => {
    const ok = await inPod("client", "curl", ["-sS", "--http2-prior-knowledge", "-w", "|%{http_code}|%{http_version}", `${WEB}/public/a/../b`]);
    expect(ok.stdout).toBe("web-h2 GET /public/b 0\n|200|2");
    const denied = await inPod("client", "curl", ["-sS", "--http2-prior-knowledge", "-w", "|%{http_code}", `${WEB}/private`]);
    expect(denied.stdout).toBe("Access denied\r\n|403");
    // The same port still speaks HTTP/1.1 to a client that does.
    const h1 = await inPod("client", "curl", ["-sS", "--http1.1", "-w", "|%{http_code}", `${WEB}/private`]);
    expect(h1.stdout).toBe("Access denied\r\n|403");
  });

  test("h2load: many streams on few connections, every one answered and decided", async () => {
    const allowed = await inPod("client", "h2load", ["-n", "400", "-c", "2", "-m", "20", `${WEB}/public/load`]);
    expect(allowed.stdout).toMatch(/400 succeeded, 0 failed, 0 errored/);
    expect(allowed.stdout).toMatch(/status codes: 400 2xx/);
    const denied = await inPod("client", "h2load", ["-n", "100", "-c", "1", "-m", "10", `${WEB}/private`]);
    expect(denied.stdout).toMatch(/status codes: 0 2xx, 0 3xx, 100 4xx/);
  });
});
