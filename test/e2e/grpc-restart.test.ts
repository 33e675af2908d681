// A rolling restart under gRPC load: @grpc/grpc-js calls every kind of RPC through the proxy
// without pause while it is restarted twice (a new process beside the old one, then SIGTERM to
// the old one, which sends GOAWAY and lets the streams in flight finish). No allowed call may
// fail and every denied one must still be PERMISSION_DENIED.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, REPO_ROOT, sleep } from "../../src/netns/cluster.js";
import { spawnIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("gRPC rolling restart e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const ECHO = "10.205.0.30:50051";

// For argv[2] ms: four loops of unary calls, and one loop each of client streaming, server
// streaming (slow enough to straddle a restart) and bidi, all on one channel; then one JSON
// line with the count of each outcome per kind. A call either succeeds with the right
// answer ("ok"), is denied ("denied": Forbidden only), or fails with its gRPC code.
const LOAD = `
import { echoClient, loadGrpc, pattern, sha256 } from ${JSON.stringify(join(REPO_ROOT, "dist/demo/grpc-echo-server.js"))};
const grpc = await loadGrpc();
const c = await echoClient(process.argv[1]);
const until = Date.now() + Number(process.argv[2]);
const out = {};
const count = (kind, what) => { out[kind] ??= {}; out[kind][what] = (out[kind][what] ?? 0) + 1; };
const deadline = () => ({ deadline: Date.now() + 10000 });
const unary = (i) => new Promise((res) => { const b = pattern(1000 + (i % 7) * 1000, i); c.Unary(b, deadline(), (e, r) => res(e ? String(e.code) : sha256(r) === sha256(b) ? "ok" : "corrupt")); });
const forbidden = () => new Promise((res) => c.Forbidden(Buffer.from("x"), deadline(), (e) => res(e?.code === 7 ? "denied" : e ? String(e.code) : "allowed")));
const upload = () => new Promise((res) => { const call = c.Upload(deadline(), (e, r) => res(e ? String(e.code) : r.toString().startsWith("50 ") ? "ok" : "corrupt")); for (let i = 0; i < 50; i++) call.write(pattern(2000, i)); call.end(); });
const download = () => new Promise((res) => { let n = 0; const call = c.Download(Buffer.alloc(0), metadata({ "x-count": "200", "x-size": "4096" }), deadline()); call.on("data", () => n++); call.on("error", (e) => res(String(e.code))); call.on("end", () => res(n === 200 ? "ok" : "short")); });
const chat = () => new Promise((res) => { const got = []; const call = c.Chat(deadline()); call.on("data", (m) => got.push(m.toString())); call.on("error", (e) => res(String(e.code))); call.on("end", () => res(got.join(",") === "a,b,c" ? "ok" : "corrupt")); for (const w of ["a", "b", "c"]) call.write(Buffer.from(w)); call.end(); });
function metadata(o) { const m = new grpc.Metadata(); for (const [k, v] of Object.entries(o)) m.set(k, v); return m; }
async function loop(kind, call) { let i = 0; while (Date.now() < until) count(kind, await call(i++)); }
await Promise.all([0, 1, 2, 3].map(() => loop("unary", unary)).concat([loop("forbidden", forbidden), loop("upload", upload), loop("download", download), loop("chat", chat)]));
c.close();
process.stdout.write(JSON.stringify(out) + "\\n");
`;

describe.runIf(canRun)("gRPC through a rolling restart", () => {
  const cluster = new NetnsCluster(`gr${process.pid % 100000}`, {
    endpointsFile: join(FIX, "grpc-endpoints.yaml"),
    adminPort: 9915,
    servers: [{ pod: "echo-grpc", script: "demo/grpc-echo-server.js", args: ["50051"] }],
  });
  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies([join(FIX, "grpc-echo-policy.yaml")]);
  }, 90_000);
  afterAll(async () => cluster.stop(), 60_000);

  test("two restarts during 14 s of calls of every kind lose no RPC", { timeout: 120_000 }, async () => {
    const client = spawnIn(cluster.topo.pod("client").netns, process.execPath, ["--input-type=module", "-e", LOAD, ECHO, "14000"]);
    let stdout = "";
    let stderr = "";
    client.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    client.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => client.once("exit", (code) => r(code)));
    await sleep(4000);
    const firstExit = await cluster.restartProxy();
    await sleep(4000);
    const secondExit = await cluster.restartProxy();
    expect(await exited, stderr).toBe(0);
    const counts = JSON.parse(stdout) as Record<string, Record<string, number>>;
    console.log(`gRPC rolling restart: ${JSON.stringify(counts)}`);
    expect([firstExit, secondExit]).toEqual([0, 0]);
    // Nothing but successes (and denials of the denied method), and enough of each kind
    // that every kind was in flight across the restarts.
    expect(Object.keys(counts.unary ?? {})).toEqual(["ok"]);
    expect(Object.keys(counts.forbidden ?? {})).toEqual(["denied"]);
    for (const kind of ["upload", "download", "chat"]) expect(Object.keys(counts[kind] ?? {}), kind).toEqual(["ok"]);
    expect(counts.unary!.ok).toBeGreaterThan(200);
    expect(counts.download!.ok).toBeGreaterThan(5);
  });
});
