// `npm run bench:dns`: DNS queries per second and latency through the DNS proxy against the
// same dnsmasq asked directly, over UDP, for a name dnsmasq answers from its own records
// (a cached name). Two pods: "proxied" (its egress has DNS rules, so its queries are
// redirected to l7proxy) and "direct" (no policy selects it: its queries go straight to
// dnsmasq). Each runs the same load generator:
//   - fixed rate (--rate, default 3000/s): latency percentiles (p50, p99) at that rate;
//   - closed loop (--concurrency in flight): the most queries per second.
// Options: --seconds N (per phase, default 5), --rate N, --concurrency N, --workers N (the
// proxy's --workers: with N > 1 the primary answers DNS and keeps the workers' copies of the
// learned names in step, which every answer refreshes).

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NetnsCluster } from "../../src/netns/cluster.js";
import { runIn, spawnIn } from "../../src/netns/exec.js";

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
  console.log(JSON.stringify({ answered, lost: lost + sent.size, qps: answered / Number(seconds), p50: p(0.5), p99: p(0.99) }));
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
warm.on("message", () => { warm.close(); end = Date.now() + Number(seconds) * 1000; start(); });
warm.send(q, 53, host);
`;

function arg(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
}

async function main(argv: string[]): Promise<void> {
  const seconds = arg(argv, "seconds", 5);
  const rate = arg(argv, "rate", 3000);
  const concurrency = arg(argv, "concurrency", 32);
  const workers = arg(argv, "workers", 1);
  const dir = `/tmp/l7proxy-dnsbench-${process.pid}`;
  mkdirSync(dir, { recursive: true });
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
  const cluster = new NetnsCluster(`db${process.pid % 100000}`, { endpointsFile: endpoints, adminPort: 9931, servers: [], proxyArgs: ["--log-level", "warn", "--workers", String(workers)] });
  await cluster.start();
  const dnsmasq = spawnIn(cluster.topo.pod("coredns").netns, "dnsmasq", [
    "-k", "-p", "53", `--listen-address=${DNS}`, "--bind-interfaces", "--no-resolv", "--no-hosts", `--host-record=${NAME},10.207.1.10,300`,
  ]);
  try {
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
    const run = async (pod: string, mode: string): Promise<Record<string, number | null>> => {
      const r = await runIn(cluster.topo.pod(pod).netns, process.execPath, ["-e", LOADGEN, mode, DNS, NAME, String(seconds), String(rate), String(concurrency)], {
        timeoutMs: (seconds + 10) * 1000,
      });
      return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, number | null>;
    };
    const out: Record<string, unknown> = { seconds, rate, concurrency, workers };
    for (const pod of ["direct", "proxied"]) {
      out[`${pod}-rate`] = await run(pod, "rate");
      out[`${pod}-closed`] = await run(pod, "closed");
    }
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    dnsmasq.kill("SIGKILL");
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
