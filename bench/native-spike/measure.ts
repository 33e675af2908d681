// SPIKE measurement (issue 15 §3): the CPU each design spends per relayed request, on one
// topology (a loopback network namespace: wrk -> proxy on 127.0.0.1 -> nginx on 127.0.0.2),
// every proxy pinned to CPU 1 and wrk and nginx to CPU 0, in interleaved rounds.
//
//   npx tsc -p bench/tsconfig.json && (cd bench/native-spike && npx node-gyp rebuild)
//   node dist-bench/bench/native-spike/measure.js [seconds per run] [rounds] [connections]
//
// Targets: node-l7 (`l7proxy run --upstream`, one L7 rule: today's data path), node-relay
// (the same with no L7 rule on the port: Node's bare byte relay), c-decide (relay-core.c with
// every head parsed and decided in JavaScript, batched), c-floor (relay-core.c forwarding
// without asking JavaScript), haproxy (2.6, nbthread 1, the same rule as an ACL).
// µs/request = the proxy process's CPU time (utime+stime) over the requests wrk completed.

import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { run, runIn } from "../../src/netns/exec.js";
import { loadEndpointsFile } from "../../src/policy/endpoints/load-endpoints.js";
import { loadPolicyPaths } from "../../src/policy/load/index.js";
import { ManagedProcess, sleep } from "../load/env/managed-process.js";
import { endCostWindow, startCostWindow } from "../load/env/proc-stats.js";
import { prepareNginx } from "../load/env/upstream-nginx.js";
import { renderHaproxyConfig } from "../load/haproxy/haproxy-config.js";
import { portPolicyFor } from "../load/haproxy/port-policy.js";
import { parseWrkOutput, wrkArgs, wrkScript } from "../load/loadgen/wrk.js";
import { ALLOWED_PREFIX, UPSTREAM_PORT, writePolicyFiles } from "../load/policy-fixture.js";
import { repoPath } from "../load/repo-root.js";
import { median } from "../load/stats.js";

const CLIENT = "127.0.0.1";
const UPSTREAM = "127.0.0.2";
const TARGETS = ["node-l7", "node-relay", "c-decide", "c-floor", "haproxy"] as const;
type Target = (typeof TARGETS)[number];
const PORTS: Record<Target, number> = { "node-l7": 15031, "node-relay": 15032, "c-decide": 15033, "c-floor": 15034, haproxy: 15035 };

const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 3);
const connections = Number(process.argv[4] ?? 64);
const only = (process.argv[5] ?? TARGETS.join(",")).split(",") as Target[];

function wrk(netns: string, port: number, script: string, secs: number): Promise<string> {
  const spec = { url: `http://${CLIENT}:${port}`, paths: [`${ALLOWED_PREFIX}b0`], connections, threads: 1, durationSec: secs, timeoutSec: 5 };
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", netns, "prlimit", "--nofile=16384:", "--", "taskset", "-c", "0", "wrk", ...wrkArgs(spec, script)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk failed: ${out}`))));
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "l7p-spike-"));
  const netns = `l7spike${process.pid % 100000}`;
  await run("ip", ["netns", "add", netns]);
  const procs: ManagedProcess[] = [];
  try {
    await runIn(netns, "ip", ["link", "set", "lo", "up"]);
    await runIn(netns, "sysctl", ["-qw", "net.core.somaxconn=65535"], { allowFail: true });
    const nginxConf = await prepareNginx(dir, `${UPSTREAM}:${UPSTREAM_PORT}`);
    procs.push(new ManagedProcess({ name: "nginx", netns, cpus: "0", argv: ["nginx", "-e", "stderr", "-c", nginxConf] }));
    const l7 = await writePolicyFiles(dir, 1, CLIENT, UPSTREAM);
    const bare = await writePolicyFiles(dir, 0, CLIENT, UPSTREAM);
    const up = ["--upstream", `${UPSTREAM}:${UPSTREAM_PORT}`, "--proxy-host", CLIENT, "--log-level", "warn", "--no-install-rules"];
    const node = process.execPath;
    const argvs: Record<Target, string[]> = {
      "node-l7": [node, repoPath("dist", "cli", "main.js"), "run", "--policies", l7.policyDir, "--endpoints", l7.endpointsFile, "--proxy-port", String(PORTS["node-l7"]), "--admin", "127.0.0.1:9931", ...up],
      "node-relay": [node, repoPath("dist", "cli", "main.js"), "run", "--policies", bare.policyDir, "--endpoints", bare.endpointsFile, "--proxy-port", String(PORTS["node-relay"]), "--admin", "127.0.0.1:9932", ...up],
      "c-decide": [node, repoPath("dist-bench", "bench", "native-spike", "spike-proxy.js"), "--listen", `${CLIENT}:${PORTS["c-decide"]}`, "--upstream", `${UPSTREAM}:${UPSTREAM_PORT}`, "--policies", l7.policyDir, "--endpoints", l7.endpointsFile, "--client-ip", CLIENT],
      "c-floor": [node, repoPath("dist-bench", "bench", "native-spike", "spike-proxy.js"), "--listen", `${CLIENT}:${PORTS["c-floor"]}`, "--upstream", `${UPSTREAM}:${UPSTREAM_PORT}`, "--policies", l7.policyDir, "--endpoints", l7.endpointsFile, "--client-ip", CLIENT, "--no-decide"],
      haproxy: [],
    };
    const loaded = await loadPolicyPaths([l7.policyDir]);
    const rendered = renderHaproxyConfig(portPolicyFor(loaded.policies, await loadEndpointsFile(l7.endpointsFile), "bench-upstream", UPSTREAM_PORT), {
      bind: `${CLIENT}:${PORTS.haproxy}`,
      server: `${UPSTREAM}:${UPSTREAM_PORT}`,
      patternDir: join(dir, "hap"),
    });
    await mkdir(join(dir, "hap"), { recursive: true });
    for (const f of rendered.files) await writeFile(f.path, f.content);
    await writeFile(join(dir, "haproxy.cfg"), rendered.config);
    argvs.haproxy = ["haproxy", "-db", "-f", join(dir, "haproxy.cfg")];

    const started = new Map<Target, ManagedProcess>();
    for (const t of only) {
      const p = new ManagedProcess({ name: t, netns, cpus: "1", argv: argvs[t] });
      procs.push(p);
      started.set(t, p);
    }
    await sleep(4000);
    const script = join(dir, "wrk.lua");
    await writeFile(script, wrkScript([`${ALLOWED_PREFIX}b0`]));
    for (const t of only) {
      if (started.get(t)!.exited) throw new Error(started.get(t)!.describeExit());
      parseWrkOutput(await wrk(netns, PORTS[t], script, 1)); // warm-up
    }
    const results = new Map<Target, { rps: number[]; usPerReq: number[] }>(only.map((t) => [t, { rps: [], usPerReq: [] }]));
    for (let r = 0; r < rounds; r++) {
      const order = [...only.slice(r % only.length), ...only.slice(0, r % only.length)];
      for (const t of order) {
        const pid = started.get(t)!.pid;
        const before = await startCostWindow(pid);
        const w = parseWrkOutput(await wrk(netns, PORTS[t], script, seconds));
        const cost = await endCostWindow(pid, before);
        if (w.non2xx > 0 || w.requests === 0) throw new Error(`${t}: ${w.non2xx} non-2xx of ${w.requests}`);
        results.get(t)!.rps.push(w.rps);
        results.get(t)!.usPerReq.push((cost.cpuSeconds / w.requests) * 1e6);
        process.stderr.write(`round ${r + 1} ${t}: ${w.rps.toFixed(0)} rps, ${((cost.cpuSeconds / w.requests) * 1e6).toFixed(2)} µs CPU/request\n`);
      }
    }
    const pressure = await run("cat", ["/proc/pressure/cpu"], { allowFail: true });
    process.stdout.write(`\n| target | rps (median) | CPU µs/request (median) | rounds |\n|---|---:|---:|---:|\n`);
    for (const t of only) {
      const x = results.get(t)!;
      process.stdout.write(`| ${t} | ${median(x.rps).toFixed(0)} | ${median(x.usPerReq).toFixed(2)} | ${x.rps.length} |\n`);
    }
    process.stdout.write(`\nmachine CPU pressure at the end: ${pressure.stdout.split("\n")[0]}\n`);
    for (const t of ["c-decide", "c-floor"] as const) {
      const p = started.get(t);
      if (p === undefined) continue;
      await p.stop();
      const line = p.tail().split("\n").find((l) => l.startsWith("{"));
      if (line !== undefined) process.stdout.write(`${t} stats: ${line}\n`);
    }
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await run("ip", ["netns", "del", netns], { allowFail: true });
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
