// Kafka through l7proxy against direct, in interleaved rounds, in network namespaces with
// real interception: produce and fetch throughput with 1 KiB messages (kcat/librdkafka), and
// produce latency at a fixed rate (paced-producer.mjs: the raw protocol on a fixed schedule,
// 1 KiB records, acks=1; a client library's own tail (kafkajs: 54-75 ms p99 direct at 3,000
// requests/s) would hide the proxy's). "direct": no policy selects the broker, so its
// traffic is routed past the proxy; "l7proxy": Cilium's Kafka example policy, so every
// request is decoded and decided. The broker is librdkafka's mock cluster, which bounds
// what any target can reach; compare the two targets, not absolute numbers. The mock keeps
// about 5 MiB per partition, so a round's messages must stay under ~4,000 of 1 KiB.
//
// Added latency is taken per round (l7proxy minus direct of the same round, the two run one
// after the other) and its median over rounds reported. The proxy's CPU time over the
// latency phase, divided by the requests, is reported as well: unlike latency it hardly
// depends on what else the machine runs.
//   node dist-bench/bench/kafka/kafka-bench.js [--rounds N] [--messages N] [--rate RPS] [--seconds S]
//                                              [--connections N] [--proxy-arg ARG]...   (extra `l7proxy run` arguments)
//                                              [--proxy-node-arg ARG]...   (Node.js flags for the proxy: --cpu-prof, ...)

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { KafkaCluster } from "../../src/demo/kafka-cluster.js";
import { REPO_ROOT } from "../../src/netns/cluster.js";
import { isRoot, runIn } from "../../src/netns/exec.js";
import { endCostWindow, startCostWindow } from "../load/env/proc-stats.js";

const TOPIC = "empire-announce";
const PRODUCER = "empire-hq";
const CONSUMER = "outpost-8888";
type Target = "direct" | "l7proxy";

interface RoundResult {
  target: Target;
  round: number;
  produceMsgsPerSec: number;
  fetchMsgsPerSec: number;
  latency: PacedResult;
  /** The proxy's CPU time (its process tree) over the latency phase, per request answered. */
  proxyCpuUsPerRequest: number;
  /** Produce requests the proxy decided in the latency phase, and how many of them took it over 0.5 ms and over 1 ms of its own time. */
  proxyPhase: { requests: number; over05Ms: number; over1Ms: number };
  /** The proxy's event-loop delay samples (one per ~10 ms timer) over the latency phase: how many, and how many ran over 1 ms and 5 ms late. */
  eventLoopDelay: { samples: number; over1Ms: number; over5Ms: number };
}

/**
 * Cumulative counts of the proxy's own time per Produce request
 * (hubble_kafka_request_duration_seconds{api_key="produce",phase="proxy"}: decoding, deciding
 * and writing, not the wait to be scheduled): total, and at or below 0.5 ms and 1 ms.
 */
async function proxyPhaseCounts(c: KafkaCluster): Promise<{ count: number; le05: number; le1: number }> {
  const out = { count: 0, le05: 0, le1: 0 };
  for (const line of (await c.admin("/metrics")).body.split("\n")) {
    if (!line.startsWith("hubble_kafka_request_duration_seconds") || !line.includes('api_key="produce"') || !line.includes('phase="proxy"')) continue;
    const v = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (line.startsWith("hubble_kafka_request_duration_seconds_count")) out.count += v;
    else if (line.includes('le="0.0005"')) out.le05 += v;
    else if (line.includes('le="0.001"')) out.le1 += v;
  }
  return out;
}

/** Cumulative counts of l7proxy_event_loop_delay_seconds from /metrics: total, and at or below 1 ms and 5 ms. */
async function loopDelayCounts(c: KafkaCluster): Promise<{ count: number; le1: number; le5: number }> {
  const body = (await c.admin("/metrics")).body;
  const num = (re: RegExp): number => Number(re.exec(body)?.[1] ?? NaN);
  return {
    count: num(/^l7proxy_event_loop_delay_seconds_count(?:\{\})? (\S+)$/m),
    le1: num(/^l7proxy_event_loop_delay_seconds_bucket\{le="0\.001"\} (\S+)$/m),
    le5: num(/^l7proxy_event_loop_delay_seconds_bucket\{le="0\.005"\} (\S+)$/m),
  };
}

/** What paced-producer.mjs prints. */
interface PacedResult {
  produceVersion: number;
  connections: number;
  sent: number;
  answered: number;
  errors: number;
  achievedRps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  p999Ms: number | null;
  maxMs: number | null;
  sendLag: { p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
  generatorCpuUsPerRequest: number;
}

const ms = (x: number | null): string => (x === null || Number.isNaN(x) ? "-" : x.toFixed(2));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function timed(fn: () => Promise<{ code: number; stdout: string; stderr: string }>): Promise<{ seconds: number; stdout: string; stderr: string }> {
  const t0 = performance.now();
  const r = await fn();
  if (r.code !== 0) throw new Error(`failed (${r.code}): ${r.stderr}`);
  return { seconds: (performance.now() - t0) / 1000, stdout: r.stdout, stderr: r.stderr };
}

async function round(c: KafkaCluster, target: Target, n: number, messages: number, rate: number, seconds: number, connections: number): Promise<RoundResult> {
  await c.applyKafkaPolicy(target === "l7proxy");
  const line = "a".repeat(1023);
  const input = `${line}\n`.repeat(messages);
  const kcat = (pod: string, args: string[], stdin?: string) =>
    runIn(c.topo.pod(pod).netns, "kcat", ["-b", c.bootstrap, "-X", "linger.ms=5", ...args], { allowFail: true, timeoutMs: 30_000, ...(stdin !== undefined ? { input: stdin } : {}) });
  const produced = await timed(() => kcat(PRODUCER, ["-P", "-t", TOPIC], input));
  // The last `messages` messages (the ones just produced), then exit at the end of the partition.
  const fetched = await timed(() => kcat(CONSUMER, ["-C", "-t", TOPIC, "-p", "0", "-o", `-${messages}`, "-c", String(messages), "-q"]));
  const got = fetched.stdout.split("\n").filter((l) => l.length > 0).length;
  if (got !== messages) throw new Error(`${target}: fetched ${got} of ${messages} messages: ${fetched.stderr}`);
  const pid = c.proxy?.pid;
  if (pid === undefined) throw new Error("the proxy is not running");
  const loop0 = await loopDelayCounts(c);
  const phase0 = await proxyPhaseCounts(c);
  const cpu0 = await startCostWindow(pid);
  const lat = await runIn(c.topo.pod(PRODUCER).netns, process.execPath, [join(REPO_ROOT, "bench", "kafka", "paced-producer.mjs"), c.bootstrap, TOPIC, String(rate), String(seconds), String(connections)], { timeoutMs: 120_000 });
  const cost = await endCostWindow(pid, cpu0);
  const loop1 = await loopDelayCounts(c);
  const phase1 = await proxyPhaseCounts(c);
  const decided = phase1.count - phase0.count;
  const samples = loop1.count - loop0.count;
  const latency = JSON.parse(lat.stdout.trim().split("\n").pop()!) as PacedResult;
  if (latency.answered < latency.sent || latency.errors > 0) throw new Error(`${target}: ${latency.answered} of ${latency.sent} produce requests answered, ${latency.errors} with an error`);
  return {
    target,
    round: n,
    produceMsgsPerSec: messages / produced.seconds,
    fetchMsgsPerSec: messages / fetched.seconds,
    latency,
    proxyCpuUsPerRequest: (cost.cpuSeconds * 1e6) / latency.answered,
    proxyPhase: { requests: decided, over05Ms: decided - (phase1.le05 - phase0.le05), over1Ms: decided - (phase1.le1 - phase0.le1) },
    eventLoopDelay: { samples, over1Ms: samples - (loop1.le1 - loop0.le1), over5Ms: samples - (loop1.le5 - loop0.le5) },
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "3" },
      messages: { type: "string", default: "4000" },
      rate: { type: "string", default: "3000" },
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "1" },
      "proxy-arg": { type: "string", multiple: true },
      "proxy-node-arg": { type: "string", multiple: true },
    },
  });
  if (!isRoot()) {
    process.stderr.write("kafka-bench: needs root (network namespaces)\n");
    return 2;
  }
  const rounds = Number(values.rounds);
  const messages = Number(values.messages);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const c = new KafkaCluster(`kb${process.pid % 100000}`, ["--log-level", "warn", ...(values["proxy-arg"] ?? [])], values["proxy-node-arg"] ?? []);
  const results: RoundResult[] = [];
  try {
    await c.start();
    // A first round of each target, not counted: the mock's first writes and the clients'
    // first connections are much slower than the rest.
    for (const t of ["direct", "l7proxy"] as Target[]) await round(c, t, -1, Math.min(messages, 1000), rate, 1, connections);
    for (let i = 0; i < rounds; i++) {
      // Alternate which target goes first, so drift in the machine's load hits both alike.
      const order: Target[] = i % 2 === 0 ? ["direct", "l7proxy"] : ["l7proxy", "direct"];
      for (const t of order) {
        const r = await round(c, t, i, messages, rate, seconds, connections);
        results.push(r);
        const l = r.latency;
        process.stderr.write(
          `round ${i} ${t}: produce ${r.produceMsgsPerSec.toFixed(0)} msg/s, fetch ${r.fetchMsgsPerSec.toFixed(0)} msg/s; at ${l.achievedRps?.toFixed(0)} rps p50/p99/p99.9 ${ms(l.p50Ms)}/${ms(l.p99Ms)}/${ms(l.p999Ms)} ms, send lag p99 ${ms(l.sendLag.p99Ms)} ms, proxy ${r.proxyCpuUsPerRequest.toFixed(1)} µs CPU/request, event loop late >1 ms ${r.eventLoopDelay.over1Ms}/${r.eventLoopDelay.samples}, proxy's own time >0.5 ms ${r.proxyPhase.over05Ms}/${r.proxyPhase.requests} (>1 ms ${r.proxyPhase.over1Ms})\n`,
        );
      }
    }
  } finally {
    await c.stop();
  }
  const by = (t: Target) => results.filter((r) => r.target === t);
  const summary = (["direct", "l7proxy"] as Target[]).map((t) => {
    const rs = by(t);
    const produce = median(rs.map((r) => r.produceMsgsPerSec));
    const fetch = median(rs.map((r) => r.fetchMsgsPerSec));
    return {
      target: t,
      produceMsgsPerSec: produce,
      produceMBps: (produce * 1024) / 1e6,
      fetchMsgsPerSec: fetch,
      fetchMBps: (fetch * 1024) / 1e6,
      p50Ms: median(rs.map((r) => r.latency.p50Ms ?? NaN)),
      p99Ms: median(rs.map((r) => r.latency.p99Ms ?? NaN)),
      p999Ms: median(rs.map((r) => r.latency.p999Ms ?? NaN)),
      sendLagP99Ms: median(rs.map((r) => r.latency.sendLag.p99Ms ?? NaN)),
      proxyCpuUsPerRequest: median(rs.map((r) => r.proxyCpuUsPerRequest)),
      generatorCpuUsPerRequest: median(rs.map((r) => r.latency.generatorCpuUsPerRequest)),
    };
  });
  // Per round: the l7proxy target against the direct one measured right beside it.
  const added = (pick: (r: RoundResult) => number | null) =>
    median(by("l7proxy").map((p) => {
      const d = by("direct").find((r) => r.round === p.round)!;
      return (pick(p) ?? NaN) - (pick(d) ?? NaN);
    }));
  const addedMs = { p50: added((r) => r.latency.p50Ms), p99: added((r) => r.latency.p99Ms), p999: added((r) => r.latency.p999Ms) };
  const [d, p] = summary as [(typeof summary)[0], (typeof summary)[0]];
  const table = [
    `target    produce msg/s (MB/s)   fetch msg/s (MB/s)   produce p50 / p99 / p99.9 ms at ${rate} rps   send lag p99   proxy CPU/request`,
    ...summary.map(
      (s) =>
        `${s.target.padEnd(9)} ${s.produceMsgsPerSec.toFixed(0).padStart(8)} (${s.produceMBps.toFixed(1)})       ${s.fetchMsgsPerSec.toFixed(0).padStart(8)} (${s.fetchMBps.toFixed(1)})      ${ms(s.p50Ms)} / ${ms(s.p99Ms)} / ${ms(s.p999Ms)}                  ${ms(s.sendLagP99Ms)} ms       ${s.proxyCpuUsPerRequest.toFixed(1)} µs`,
    ),
    `l7proxy/direct: produce ${(p.produceMsgsPerSec / d.produceMsgsPerSec).toFixed(2)}x, fetch ${(p.fetchMsgsPerSec / d.fetchMsgsPerSec).toFixed(2)}x; added p50 ${ms(addedMs.p50)} ms, p99 ${ms(addedMs.p99)} ms, p99.9 ${ms(addedMs.p999)} ms (medians over ${rounds} interleaved rounds of the per-round difference)`,
  ].join("\n");
  process.stdout.write(`${table}\n`);
  const out = join(REPO_ROOT, "bench", "out");
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "kafka.json"), JSON.stringify({ when: new Date().toISOString(), messages, rate, seconds, connections, rounds: results, summary, addedMs }, null, 2));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kafka-bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
