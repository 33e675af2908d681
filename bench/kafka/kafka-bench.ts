// Kafka through l7proxy against direct, in interleaved rounds, in network namespaces with
// real interception: produce and fetch throughput with 1 KiB messages (kcat/librdkafka), and
// produce latency at a fixed rate (kafkajs). "direct": no policy selects the broker, so its
// traffic is routed past the proxy; "l7proxy": Cilium's Kafka example policy, so every
// request is decoded and decided. The broker is librdkafka's mock cluster, which bounds
// what any target can reach; compare the two targets, not absolute numbers. The mock keeps
// about 5 MiB per partition, so a round's messages must stay under ~4,000 of 1 KiB.
//   node dist-bench/bench/kafka/kafka-bench.js [--rounds N] [--messages N] [--rate RPS] [--seconds S]
//                                              [--proxy-arg ARG]...   (extra `l7proxy run` arguments)

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { KafkaCluster } from "../../src/demo/kafka-cluster.js";
import { REPO_ROOT } from "../../src/netns/cluster.js";
import { isRoot, runIn } from "../../src/netns/exec.js";

const TOPIC = "empire-announce";
const PRODUCER = "empire-hq";
const CONSUMER = "outpost-8888";
type Target = "direct" | "l7proxy";

interface RoundResult {
  target: Target;
  round: number;
  produceMsgsPerSec: number;
  fetchMsgsPerSec: number;
  latency: { sent: number; failed: number; achievedRps: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
}

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

async function round(c: KafkaCluster, target: Target, n: number, messages: number, rate: number, seconds: number): Promise<RoundResult> {
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
  const lat = await runIn(c.topo.pod(PRODUCER).netns, process.execPath, [join(REPO_ROOT, "bench", "kafka", "produce-latency.mjs"), c.bootstrap, TOPIC, String(rate), String(seconds)], { timeoutMs: 120_000 });
  return {
    target,
    round: n,
    produceMsgsPerSec: messages / produced.seconds,
    fetchMsgsPerSec: messages / fetched.seconds,
    latency: JSON.parse(lat.stdout.trim().split("\n").pop()!) as RoundResult["latency"],
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { rounds: { type: "string", default: "2" }, messages: { type: "string", default: "4000" }, rate: { type: "string", default: "1000" }, seconds: { type: "string", default: "5" }, "proxy-arg": { type: "string", multiple: true } },
  });
  if (!isRoot()) {
    process.stderr.write("kafka-bench: needs root (network namespaces)\n");
    return 2;
  }
  const rounds = Number(values.rounds);
  const messages = Number(values.messages);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const c = new KafkaCluster(`kb${process.pid % 100000}`, ["--log-level", "warn", ...(values["proxy-arg"] ?? [])]);
  const results: RoundResult[] = [];
  try {
    await c.start();
    // A first round of each target, not counted: the mock's first writes and the clients'
    // first connections are much slower than the rest.
    for (const t of ["direct", "l7proxy"] as Target[]) await round(c, t, -1, Math.min(messages, 1000), rate, 1);
    for (let i = 0; i < rounds; i++) {
      // Alternate which target goes first, so drift in the machine's load hits both alike.
      const order: Target[] = i % 2 === 0 ? ["direct", "l7proxy"] : ["l7proxy", "direct"];
      for (const t of order) {
        const r = await round(c, t, i, messages, rate, seconds);
        results.push(r);
        process.stderr.write(`round ${i} ${t}: produce ${r.produceMsgsPerSec.toFixed(0)} msg/s, fetch ${r.fetchMsgsPerSec.toFixed(0)} msg/s, p99 ${r.latency.p99Ms?.toFixed(2)} ms at ${r.latency.achievedRps.toFixed(0)} rps\n`);
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
      p99Ms: median(rs.map((r) => r.latency.p99Ms ?? NaN)),
      p50Ms: median(rs.map((r) => r.latency.p50Ms ?? NaN)),
    };
  });
  const [d, p] = summary as [(typeof summary)[0], (typeof summary)[0]];
  const table = [
    "target    produce msg/s (MB/s)   fetch msg/s (MB/s)   produce p50 / p99 ms at " + `${rate} rps`,
    ...summary.map((s) => `${s.target.padEnd(9)} ${s.produceMsgsPerSec.toFixed(0).padStart(8)} (${s.produceMBps.toFixed(1)})       ${s.fetchMsgsPerSec.toFixed(0).padStart(8)} (${s.fetchMBps.toFixed(1)})      ${s.p50Ms.toFixed(2)} / ${s.p99Ms.toFixed(2)}`),
    `l7proxy/direct: produce ${(p.produceMsgsPerSec / d.produceMsgsPerSec).toFixed(2)}x, fetch ${(p.fetchMsgsPerSec / d.fetchMsgsPerSec).toFixed(2)}x, p99 added ${(p.p99Ms - d.p99Ms).toFixed(2)} ms (medians of ${rounds} interleaved rounds)`,
  ].join("\n");
  process.stdout.write(`${table}\n`);
  const out = join(REPO_ROOT, "bench", "out");
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "kafka.json"), JSON.stringify({ when: new Date().toISOString(), messages, rate, seconds, rounds: results, summary }, null, 2));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kafka-bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
