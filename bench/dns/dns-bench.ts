// `npm run bench:dns`: DNS queries per second and latency through the DNS proxy against the
// same dnsmasq asked directly, over UDP, for a name dnsmasq answers from its own records
// (a cached name). Two pods: "proxied" (its egress has DNS rules, so its queries are
// redirected to l7proxy) and "direct" (no policy selects it: its queries go straight to
// dnsmasq). Each runs the same load generator:
//   - fixed rate (--rate, default 3000/s): latency percentiles (p50, p99) at that rate;
//   - closed loop (--concurrency in flight): the most queries per second.
// Rounds (--rounds, default 3) interleave direct and proxied, so a neighbour's load hits both
// alike; the medians are printed last. Each phase also reports the CPU time the proxy, dnsmasq
// and the load generator spent per answered query (µs, user + system, from /proc/PID/stat and
// process.cpuUsage): that figure holds on a busy machine where rates do not. For the proxied
// phases the proxy's /metrics add its GC time and how often its event loop ran late.
//
// CPU placement: with --pin (the default where there are 2 or more CPUs) the load generator
// runs on CPU 0 and dnsmasq and the proxy on CPU 1 (every thread, taskset), so the client
// never takes CPU from the side it measures and both targets get the same one CPU for the
// server side: direct is dnsmasq alone on it, proxied is dnsmasq plus the proxy. Unpinned
// (--no-pin), the proxy, dnsmasq and the generator share the CPUs as the scheduler likes,
// and in the proxied run the generator competes with two busy processes instead of one.
//
// Options: --seconds N (per phase, default 5), --rate N, --concurrency N, --rounds N,
// --no-pin, --proxy-args "..." (more `l7proxy run` options, e.g. "--no-telemetry"), --workers N (the proxy's --workers: with N > 1 the primary answers DNS and keeps
// the workers' copies of the learned names in step, which every answer refreshes),
// --proxy-node-options "..." (NODE_OPTIONS for the proxy alone, e.g. "--trace-gc"), --profile
// DIR (a CPU profile of the proxy under this load, written to DIR as it exits), --proxy-log
// FILE (what the proxy wrote to stdout and stderr).

import { readFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { NetnsCluster } from "../../src/netns/cluster.js";
import { run, runIn, spawnIn } from "../../src/netns/exec.js";

const DNS = "10.207.0.53";
const NAME = "api.example.com";

const LOADGEN = `
const dgram = require("node:dgram");
const [mode, host, name, seconds, rate, concurrency] = process.argv.slice(1);
const labels = name.split(".");
const q = Buffer.concat([Buffer.from("000001000001000000000000", "hex"), ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from("0000010001", "hex")]);
const s = dgram.createSocket("udp4");
const sent = new Map();
const lat = [];
let id = 0, answered = 0, lost = 0;
let end = 0;
function send() {
  id = (id + 1) & 0xffff;
  if (sent.has(id)) { lost++; sent.delete(id); }
  // A copy per query: dgram may queue the buffer (before the socket is bound, for one).
  const b = Buffer.from(q);
  b.writeUInt16BE(id, 0);
  sent.set(id, process.hrtime.bigint());
  s.send(b, 53, host);
}
s.on("message", (m) => {
  const t = sent.get(m.readUInt16BE(0));
  if (t === undefined) return;
  sent.delete(m.readUInt16BE(0));
  answered++;
  lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  if (mode === "closed" && Date.now() < end) send();
});
const report = () => {
  lat.sort((a, b) => a - b);
  const p = (x) => lat.length === 0 ? null : lat[Math.min(lat.length - 1, Math.floor(x * lat.length))];
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ answered, lost: lost + sent.size, qps: answered / Number(seconds), p50: p(0.5), p99: p(0.99), loadgenCpuUs: cpu.user + cpu.system }));
  process.exit(0);
};
// One query answered first: neighbour resolution (ARP) would drop the first burst.
function start() {
if (mode === "closed") {
  for (let i = 0; i < Number(concurrency); i++) send();
  // Lost datagrams must not stall the loop: refill what went missing.
  const refill = setInterval(() => { const now = process.hrtime.bigint(); for (const [k, t] of sent) if (now - t > 200000000n) { sent.delete(k); lost++; send(); } }, 100);
  setTimeout(() => { clearInterval(refill); setTimeout(report, 300); }, Number(seconds) * 1000);
} else {
  const every = 1000 / Number(rate);
  const t0 = performance.now();
  let n = 0;
  // A 1 ms timer, catching up on what is due: no busy loop competing with the proxy for CPU.
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / every);
    while (n < due) { send(); n++; }
    if (Date.now() >= end) { clearInterval(timer); setTimeout(report, 300); }
  }, 1);
}
}
const warm = dgram.createSocket("udp4");
let cpu0;
warm.on("message", () => { warm.close(); end = Date.now() + Number(seconds) * 1000; cpu0 = process.cpuUsage(); start(); });
warm.send(q, 53, host);
`;

/** Preloaded into the proxy by --profile: a CPU profile of its whole run, written as it exits. */
const PROFILER = `
const inspector = require("node:inspector");
const { mkdirSync, writeFileSync } = require("node:fs");
const session = new inspector.Session();
session.connect();
session.post("Profiler.enable");
session.post("Profiler.setSamplingInterval", { interval: 200 });
session.post("Profiler.start");
process.on("exit", () => {
  // An in-process session answers synchronously, so this completes before the exit.
  session.post("Profiler.stop", (err, r) => {
    if (err) return;
    mkdirSync(__DIR__, { recursive: true });
    writeFileSync(require("node:path").join(__DIR__, "proxy-" + process.pid + ".cpuprofile"), JSON.stringify(r.profile));
  });
});
`;

function arg(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
}

function textArg(argv: string[], name: string): string | null {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? (argv[i + 1] ?? "") : null;
}

/** CPU time (user + system) of a process and all its threads, µs; null once it is gone. */
function cpuMicros(pid: number): number | null {
  try {
    // Fields after the command name (which may hold spaces): utime is the 14th field overall.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** USER_HZ: what /proc/PID/stat counts CPU time in (100 on every Linux this runs on). */
const CLOCK_TICKS = 100;

/** Pins every thread of a process (those it starts later inherit it). */
async function pin(pid: number, cpus: string): Promise<void> {
  await run("taskset", ["-a", "-p", "-c", cpus, String(pid)]);
}

type Phase = Record<string, number | null>;

/** The proxy's own view of a phase, from /metrics: GC time and event-loop delays. */
function loopAndGc(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(nodejs_gc_duration_seconds_(?:sum|count)\{kind="[a-z]+"\}|l7proxy_event_loop_delay_seconds_(?:bucket\{le="[^"]+"\}|count)) ([0-9.e+-]+)$/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function sum(m: Map<string, number>, re: RegExp): number {
  let t = 0;
  for (const [k, v] of m) if (re.test(k)) t += v;
  return t;
}

/** GC ms and event-loop samples later than 2.5 ms, per second of the phase. */
function proxyView(before: Map<string, number>, after: Map<string, number>, seconds: number): Phase {
  const d = new Map<string, number>();
  for (const [k, v] of after) d.set(k, v - (before.get(k) ?? 0));
  const late = (d.get("l7proxy_event_loop_delay_seconds_count") ?? 0) - (d.get('l7proxy_event_loop_delay_seconds_bucket{le="0.0025"}') ?? 0);
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const kinds: Phase = {};
  for (const [k, v] of d) {
    const kind = /^nodejs_gc_duration_seconds_sum\{kind="([a-z]+)"\}$/.exec(k)?.[1];
    if (kind !== undefined && v > 0) kinds[`gc_${kind}_MsPerSecond`] = r2((v * 1000) / seconds);
  }
  return {
    ...kinds,
    gcMsPerSecond: r2((sum(d, /^nodejs_gc_duration_seconds_sum/) * 1000) / seconds),
    gcPerSecond: r2(sum(d, /^nodejs_gc_duration_seconds_count/) / seconds),
    loopLateOver2_5msPerSecond: r2(late / seconds),
  };
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(argv: string[]): Promise<void> {
  const seconds = arg(argv, "seconds", 5);
  const rate = arg(argv, "rate", 3000);
  const concurrency = arg(argv, "concurrency", 32);
  const workers = arg(argv, "workers", 1);
  const rounds = arg(argv, "rounds", 3);
  const pinned = !argv.includes("--no-pin") && availableParallelism() >= 2;
  const profileDir = textArg(argv, "profile");
  let proxyNodeOptions = textArg(argv, "proxy-node-options");
  const dir = `/tmp/l7proxy-dnsbench-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  if (profileDir !== null) {
    // (node refuses --cpu-prof in NODE_OPTIONS; a preloaded inspector session does the same.)
    const preload = join(dir, "cpu-profile.cjs");
    writeFileSync(preload, PROFILER.replace("__DIR__", JSON.stringify(profileDir)));
    proxyNodeOptions = `${proxyNodeOptions ?? ""} --require ${preload}`.trim();
  }
  const endpoints = join(dir, "endpoints.yaml");
  writeFileSync(
    endpoints,
    `namespaces:
  - {name: default, labels: {kubernetes.io/metadata.name: default}}
  - {name: kube-system, labels: {kubernetes.io/metadata.name: kube-system}}
endpoints:
  - {name: proxied, namespace: default, labels: {app: proxied}, ips: [10.207.0.10]}
  - {name: direct, namespace: default, labels: {app: direct}, ips: [10.207.0.11]}
  - {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}, ips: [${DNS}]}
`,
  );
  const cluster = new NetnsCluster(`db${process.pid % 100000}`, { endpointsFile: endpoints, adminPort: 9931, servers: [], proxyArgs: ["--log-level", "warn", "--workers", String(workers), ...(textArg(argv, "proxy-args") ?? "").split(" ").filter((a) => a !== "")] });
  // The proxy is spawned with this process's environment; the load generator and dnsmasq
  // are started after it is restored.
  const savedNodeOptions = process.env.NODE_OPTIONS;
  if (proxyNodeOptions !== null) process.env.NODE_OPTIONS = proxyNodeOptions;
  try {
    await cluster.start();
  } finally {
    if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = savedNodeOptions;
  }
  const dnsmasq = spawnIn(cluster.topo.pod("coredns").netns, pinned ? "taskset" : "dnsmasq", [
    ...(pinned ? ["-c", "1", "dnsmasq"] : []),
    "-k", "-p", "53", `--listen-address=${DNS}`, "--bind-interfaces", "--no-resolv", "--no-hosts", `--host-record=${NAME},10.207.1.10,300`,
  ]);
  // `ip netns exec` and taskset exec their command: these are the proxy's and dnsmasq's PIDs.
  const proxyPid = cluster.proxy?.pid ?? 0;
  const dnsmasqPid = dnsmasq.pid ?? 0;
  try {
    if (pinned) await pin(proxyPid, "1");
    await cluster.applyPolicies([
      {
        name: "dns.yaml",
        text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: proxied-dns, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: proxied}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]
    toPorts: [{ports: [{port: "53", protocol: ANY}], rules: {dns: [{matchPattern: "*.example.com"}]}}]
`,
      },
    ]);
    const runPhase = async (pod: string, mode: string): Promise<Phase> => {
      const gen = [process.execPath, "-e", LOADGEN, mode, DNS, NAME, String(seconds), String(rate), String(concurrency)];
      const viewBefore = pod === "proxied" ? loopAndGc((await cluster.admin("/metrics")).body) : null;
      const proxyBefore = cpuMicros(proxyPid);
      const dnsmasqBefore = cpuMicros(dnsmasqPid);
      const r = await runIn(cluster.topo.pod(pod).netns, pinned ? "taskset" : gen[0]!, pinned ? ["-c", "0", ...gen] : gen.slice(1), {
        timeoutMs: (seconds + 10) * 1000,
      });
      const proxyAfter = cpuMicros(proxyPid);
      const dnsmasqAfter = cpuMicros(dnsmasqPid);
      const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Phase;
      const view = viewBefore === null ? {} : proxyView(viewBefore, loopAndGc((await cluster.admin("/metrics")).body), seconds);
      const answered = Math.max(1, out.answered ?? 0);
      const perQuery = (before: number | null, after: number | null): number | null =>
        before === null || after === null ? null : Math.round(((after - before) / answered) * 100) / 100;
      // (The proxy's figure counts the warm-up query and the 300 ms drain too: a few µs of
      // timers over a whole phase, nothing per query.)
      return {
        ...out,
        loadgenCpuUs: perQuery(0, out.loadgenCpuUs ?? null),
        dnsmasqCpuUs: perQuery(dnsmasqBefore, dnsmasqAfter),
        proxyCpuUs: pod === "proxied" ? perQuery(proxyBefore, proxyAfter) : null,
        ...view,
      };
    };
    const results: Record<string, Phase[]> = {};
    for (let round = 0; round < rounds; round++) {
      for (const pod of ["direct", "proxied"]) {
        for (const mode of ["rate", "closed"]) {
          const phase = await runPhase(pod, mode);
          (results[`${pod}-${mode}`] ??= []).push(phase);
          process.stderr.write(`round ${round + 1} ${pod}-${mode}: ${JSON.stringify(phase)}\n`);
        }
      }
    }
    const medians: Record<string, Record<string, number | null>> = {};
    for (const [key, phases] of Object.entries(results)) {
      const fields = ["qps", "p50", "p99", "lost", "proxyCpuUs", "dnsmasqCpuUs", "loadgenCpuUs", "gcMsPerSecond", "gcPerSecond", "loopLateOver2_5msPerSecond"];
      medians[key] = Object.fromEntries(fields.map((f) => [f, median(phases.map((p) => p[f]).filter((v): v is number => typeof v === "number"))]));
    }
    const dq = medians["direct-closed"]?.qps ?? null;
    const pq = medians["proxied-closed"]?.qps ?? null;
    const d99 = medians["direct-rate"]?.p99 ?? null;
    const p99 = medians["proxied-rate"]?.p99 ?? null;
    const summary = {
      throughputRatio: dq !== null && pq !== null && dq > 0 ? Math.round((pq / dq) * 1000) / 1000 : null,
      addedP99Ms: d99 !== null && p99 !== null ? Math.round((p99 - d99) * 1000) / 1000 : null,
    };
    const load = readFileSync("/proc/loadavg", "utf8").trim();
    process.stdout.write(`${JSON.stringify({ seconds, rate, concurrency, workers, rounds, pinned, loadavgAfter: load, summary, medians, phases: results }, null, 2)}\n`);
  } finally {
    dnsmasq.kill("SIGKILL");
    await cluster.stop();
    const proxyLog = textArg(argv, "proxy-log");
    if (proxyLog !== null) writeFileSync(proxyLog, cluster.proxyLog);
    rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
