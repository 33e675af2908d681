// The DNS proxy and toFQDNs with --workers 2: the primary answers DNS over UDP and owns the
// learned names; DNS over TCP lands in the workers; every worker must allow a learned address
// by the time the answer reaches the pod, whichever worker then accepts the connection.
import type { ChildProcess } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, REPO_ROOT, sleep } from "../../src/netns/cluster.js";
import { runIn, spawnIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";
import { UdpEchoServer } from "../support/udp-peers.js";

const canRun = requireRootOrSkip("DNS proxy with --workers e2e");
const EXAMPLE_COM = join(REPO_ROOT, "proxy-config/dns/allow-egress-to-example-com.yaml");
const DNS = "10.209.0.53";
const WORLD = {
  api: "10.209.1.10",
  other: "10.209.1.11",
  race1: "10.209.1.21",
  race2: "10.209.1.22",
  race3: "10.209.1.23",
  tcp: "10.209.1.30",
  kept: "10.209.1.40",
  udp: "10.209.1.50",
};

const UDP_FQDN = {
  name: "udp-fqdn.yaml",
  text: `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: udp-fqdn, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: app}}
  egress:
  - toEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns}}]
    toPorts: [{ports: [{port: "53", protocol: ANY}], rules: {dns: [{matchPattern: "*.example.com"}]}}]
  - toFQDNs: [{matchName: udp.example.com}]
    toPorts: [{ports: [{port: "5353", protocol: UDP}]}]
`,
};

/** Resolves `name` with Node's resolver (UDP, the pod's resolv.conf), then opens `n` connections to the answer at once. */
function resolveThenConnect(name: string, n: number): string {
  return `
    const dns = require("node:dns");
    const http = require("node:http");
    dns.resolve4(${JSON.stringify(name)}, (err, ips) => {
      if (err) { console.log(JSON.stringify(["resolve " + err.code])); return; }
      const out = [];
      for (let i = 0; i < ${n}; i++) {
        http.get({ host: ips[0], port: 80, path: "/", timeout: 2000, agent: false }, (res) => { out.push(res.statusCode); res.resume(); if (out.length === ${n}) console.log(JSON.stringify(out)); })
          .on("error", (e) => { out.push(e.code); if (out.length === ${n}) console.log(JSON.stringify(out)); });
      }
    });`;
}

describe.runIf(canRun)("DNS proxy and toFQDNs with --workers 2", () => {
  const tag = `dnsw${process.pid % 10000}`;
  const cluster = new NetnsCluster(tag, {
    endpointsFile: join(import.meta.dirname, "../fixtures/e2e/dnsw-endpoints.yaml"),
    adminPort: 9961,
    proxyArgs: ["--workers", "2"],
    extraPods: Object.entries(WORLD).map(([name, ip]) => ({ name: `w-${name}`, ip })),
    servers: Object.keys(WORLD)
      .filter((name) => name !== "udp")
      .map((name) => ({ pod: `w-${name}`, script: "demo/echo-server.js", args: ["80", name] })),
  });
  let dnsmasq: ChildProcess | undefined;
  let resolvConfDir = "";
  const ns = (pod: string) => cluster.topo.pod(pod).netns;

  async function dig(name: string, opts: string[] = []): Promise<{ status: string; answers: string[] }> {
    const r = await runIn(ns("app"), "dig", [`@${DNS}`, "+time=3", "+tries=1", ...opts, name], { allowFail: true });
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? "none";
    const answers = r.stdout
      .split("\n")
      .filter((l) => !l.startsWith(";") && /\sIN\s+A\s/.test(l))
      .map((l) => l.trim().split(/\s+/).at(-1)!);
    return { status, answers };
  }

  async function workerPids(): Promise<string[]> {
    const ps = await runIn(cluster.topo.nodeNetns, "ss", ["-Hltnp", "sport = :15001"]);
    return [...new Set([...ps.stdout.matchAll(/pid=(\d+)/g)].map((m) => m[1]!))];
  }

  /** `n` fresh connections (spread over the workers by the kernel); their statuses. */
  async function connections(ip: string, n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await cluster.curl("app", [`http://${ip}/`])).status);
    return out;
  }

  beforeAll(async () => {
    await cluster.start({ proxy: false });
    const records = [
      `--host-record=api.example.com,${WORLD.api},300`,
      `--host-record=other.example.com,${WORLD.other},300`,
      `--host-record=race1.example.com,${WORLD.race1},300`,
      `--host-record=race2.example.com,${WORLD.race2},300`,
      `--host-record=race3.example.com,${WORLD.race3},300`,
      `--host-record=tcp.example.com,${WORLD.tcp},300`,
      `--host-record=kept.example.com,${WORLD.kept},300`,
      `--host-record=udp.example.com,${WORLD.udp},300`,
      "--host-record=evil.test,10.209.1.66,300",
    ];
    dnsmasq = spawnIn(ns("coredns"), "dnsmasq", ["-k", "-p", "53", `--listen-address=${DNS}`, "--bind-interfaces", "--no-resolv", "--no-hosts", ...records]);
    resolvConfDir = `/etc/netns/${ns("app")}`;
    mkdirSync(resolvConfDir, { recursive: true });
    writeFileSync(join(resolvConfDir, "resolv.conf"), `nameserver ${DNS}\noptions timeout:2 attempts:1\n`);
    await cluster.startProxy();
    await cluster.applyPolicies([EXAMPLE_COM]);
  }, 120_000);

  afterAll(async () => {
    dnsmasq?.kill("SIGKILL");
    if (resolvConfDir !== "") rmSync(resolvConfDir, { recursive: true, force: true });
    await cluster.stop();
  }, 60_000);

  test("two workers serve TCP; DNS rules are enforced: an allowed name is answered, a denied one REFUSED", async () => {
    expect((await workerPids()).length).toBe(2);
    expect(await dig("api.example.com")).toEqual({ status: "NOERROR", answers: [WORLD.api] });
    expect((await dig("evil.test")).status).toBe("REFUSED");
  });

  test("DNS flows and metrics of the primary's DNS proxy appear in /flows and /metrics", async () => {
    const flows = (await cluster.admin("/flows?protocol=dns")).body;
    expect(flows).toContain('"query":"evil.test."');
    expect(flows).toContain('"rcode":"REFUSED"');
    // The learned-name gauges are refreshed every second; the node's names counted once.
    let metrics = "";
    for (let i = 0; i < 30 && !/l7proxy_fqdn_learned_names 1\b/.test(metrics); i++) {
      if (i > 0) await sleep(100);
      metrics = (await cluster.admin("/metrics")).body;
    }
    expect(metrics).toMatch(/hubble_dns_responses_total\{rcode="REFUSED",qtypes="A",ips_returned="0"/);
    expect(metrics).toMatch(/l7proxy_fqdn_learned_names 1\b/);
    const policy = JSON.parse((await cluster.admin("/policy")).body) as { fqdn: { name: string }[] };
    expect(policy.fqdn.map((n) => n.name)).toEqual(["api.example.com."]);
  });

  test("an address nobody resolved stays denied, in every worker", async () => {
    expect(await connections(WORLD.other, 6)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  test("a connection right after the answer is allowed, whichever worker accepts it", async () => {
    for (const name of ["race1", "race2", "race3"]) {
      const r = await runIn(ns("app"), process.execPath, ["-e", resolveThenConnect(`${name}.example.com`, 8)], { allowFail: true });
      expect(JSON.parse(r.stdout.trim() || "[]"), name).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    }
    expect(await connections(WORLD.api, 6)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  test("DNS over TCP (answered in a worker) is enforced, and what it learns every worker allows at once", async () => {
    expect((await dig("evil.test", ["+tcp"])).status).toBe("REFUSED");
    const script = `ip=$(dig @${DNS} +tcp +short +time=3 +tries=1 tcp.example.com); for i in 1 2 3 4 5 6 7 8; do curl -s -m 3 -o /dev/null -w "%{http_code}\\n" "http://$ip/" & done; wait`;
    const r = await runIn(ns("app"), "sh", ["-c", script], { allowFail: true });
    expect(r.stdout.trim().split("\n")).toEqual(Array(8).fill("200"));
    const flows = (await cluster.admin("/flows?protocol=dns")).body;
    expect(flows).toMatch(/"query":"tcp\.example\.com\.".*"transport":"tcp"/);
  });

  test("a replaced worker starts with every name learned so far", async () => {
    expect((await dig("kept.example.com")).status).toBe("NOERROR");
    const [victim] = await workerPids();
    process.kill(Number(victim), "SIGKILL");
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const pids = await workerPids();
      if (pids.length === 2 && !pids.includes(victim!)) break;
      await sleep(100);
    }
    expect(await workerPids()).not.toContain(victim);
    await cluster.waitReady();
    expect(await connections(WORLD.kept, 8)).toEqual(Array(8).fill(200));
    expect(await connections(WORLD.race1, 8)).toEqual(Array(8).fill(200));
  });

  test("toFQDNs on UDP: the primary refills the kernel's sets before the answer leaves", async () => {
    const udp = await UdpEchoServer.start(ns("w-udp"), [5353]);
    try {
      await cluster.applyPolicies([UDP_FQDN]);
      const script = `
        const dns = require("node:dns");
        const s = require("node:dgram").createSocket("udp4");
        dns.resolve4("udp.example.com", (err, ips) => {
          if (err) { console.log("resolve " + err.code); process.exit(0); }
          const t = setTimeout(() => { console.log("TIMEOUT"); process.exit(0); }, 1500);
          s.on("message", (m) => { clearTimeout(t); console.log(m.toString()); process.exit(0); });
          s.send("right-after", 5353, ips[0]);
        });`;
      const r = await runIn(ns("app"), process.execPath, ["-e", script], { allowFail: true });
      expect(r.stdout.trim()).toBe("echo:right-after");
    } finally {
      udp.stop();
      await cluster.applyPolicies([EXAMPLE_COM]);
    }
  });

  test("SIGTERM stops the primary (and its DNS proxy) and the workers cleanly", async () => {
    expect(await cluster.stopProxy()).toBe(0);
    const ss = await runIn(cluster.topo.nodeNetns, "ss", ["-Hlun", "sport = :15053"]);
    expect(ss.stdout.trim()).toBe("");
  });
});
