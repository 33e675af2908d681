// The DNS proxy and toFQDNs end to end, in network namespaces: `l7proxy run` in the node
// namespace, dnsmasq as kube-dns (per-record TTLs, a CNAME, a name too big for UDP), real
// clients (dig, curl through the pod's resolv.conf, Node's resolver) and HTTP servers at
// "world" addresses that only a DNS answer makes reachable.
import { CONFORMANCE_DIR } from "../conformance/shared-dir.js";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, REPO_ROOT, sleep } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";
import { Dnsmasq } from "../support/dnsmasq.js";
import { UdpEchoServer, udpExchange } from "../support/udp-peers.js";

const canRun = requireRootOrSkip("DNS proxy e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const EXAMPLE_COM = join(REPO_ROOT, "proxy-config/dns/allow-egress-to-example-com.yaml");
const VISIBILITY = join(CONFORMANCE_DIR, "cilium-examples/examples/policies/l7/dns/dns-visibility.yaml");

const DNS = "10.206.0.53";
const WORLD = {
  api: "10.206.1.10",
  other: "10.206.1.11",
  real: "10.206.1.20",
  short: "10.206.1.30",
  late: "10.206.1.31",
  race: "10.206.1.32",
  twice: "10.206.1.33",
  evil: "10.206.1.66",
  cilium: "10.206.1.40",
  udp: "10.206.1.50",
};

// toFQDNs on a UDP port: the kernel decides those datagrams, from nftables sets that must
// hold the learned address before the answer reaches the pod.
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

interface Dig {
  status: string;
  answers: string[];
  tcp: boolean;
}

describe.runIf(canRun)("DNS proxy and toFQDNs", () => {
  const tag = `dn${process.pid % 100000}`;
  let stateDir = "";
  const cluster = new NetnsCluster(tag, {
    endpointsFile: join(FIX, "dns-endpoints.yaml"),
    adminPort: 9913,
    extraPods: Object.entries(WORLD).map(([name, ip]) => ({ name: `w-${name}`, ip })),
    servers: Object.keys(WORLD)
      .filter((name) => name !== "udp")
      .map((name) => ({ pod: `w-${name}`, script: "demo/echo-server.js", args: ["80", name] })),
  });
  const resolvConfDirs: string[] = [];
  let dnsmasq: Dnsmasq | undefined;
  const ns = (pod: string) => cluster.topo.pod(pod).netns;

  async function dig(pod: string, name: string, opts: string[] = []): Promise<Dig> {
    const r = await runIn(ns(pod), "dig", [`@${DNS}`, "+time=3", "+tries=1", ...opts, name], { allowFail: true });
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? `none (${r.stdout.trim().split("\n").at(-1)})`;
    const answers = r.stdout
      .split("\n")
      .filter((l) => !l.startsWith(";") && /\sIN\s+(A|AAAA|CNAME)\s/.test(l))
      .map((l) => l.trim().split(/\s+/).at(-1)!);
    return { status, answers, tcp: /\(TCP\)/.test(r.stdout) };
  }

  async function httpGet(pod: string, url: string): Promise<number> {
    return (await cluster.curl(pod, [url])).status;
  }

  async function metrics(): Promise<string> {
    return (await cluster.admin("/metrics")).body;
  }

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), `l7proxy-${tag}-state-`));
    (cluster.opts as { proxyArgs?: string[] }).proxyArgs = ["--state-dir", stateDir, "--dns-upstream-timeout-ms", "1500"];
    await cluster.start({ proxy: false });
    const records = [
      `--host-record=api.example.com,${WORLD.api},300`,
      `--host-record=other.example.com,${WORLD.other},300`,
      `--host-record=real.example.net,${WORLD.real},60`,
      `--cname=www.example.com,real.example.net,120`,
      `--host-record=short.example.com,${WORLD.short},2`,
      `--host-record=late.example.com,${WORLD.late},300`,
      `--host-record=race.example.com,${WORLD.race},300`,
      `--host-record=twice.example.com,${WORLD.twice},300`,
      `--host-record=evil.test,${WORLD.evil},300`,
      `--host-record=cilium.io,${WORLD.cilium},300`,
      `--host-record=udp.example.com,${WORLD.udp},300`,
      ...["src-udp", "src-tcp", "src-node"].map((n) => `--host-record=${n}.example.com,${WORLD.api},300`),
      ...Array.from({ length: 40 }, (_, i) => `--host-record=big.example.com,10.206.2.${i + 1},300`),
    ];
    dnsmasq = await Dnsmasq.start(ns("coredns"), [DNS], records);
    // curl and Node resolve through the pod's own resolv.conf (ip netns exec bind-mounts it).
    for (const pod of ["app", "other"]) {
      const dir = `/etc/netns/${ns(pod)}`;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "resolv.conf"), `nameserver ${DNS}\noptions timeout:2 attempts:1\n`);
      resolvConfDirs.push(dir);
    }
    await cluster.startProxy();
    await cluster.applyPolicies([EXAMPLE_COM]);
  }, 120_000);

  afterAll(async () => {
    dnsmasq?.kill();
    for (const d of resolvConfDirs) rmSync(d, { recursive: true, force: true });
    await cluster.stop();
    if (stateDir !== "") await rm(stateDir, { recursive: true, force: true });
  });

  test("a name the policy allows resolves, and what it resolved to is reachable", async () => {
    expect(await dig("app", "api.example.com")).toMatchObject({ status: "NOERROR", answers: [WORLD.api] });
    expect(await httpGet("app", "http://api.example.com/")).toBe(200);
  });

  test("a name the policy does not allow gets REFUSED from the resolver's address", async () => {
    const r = await runIn(ns("app"), "dig", [`@${DNS}`, "+time=3", "+tries=1", "evil.test"], { allowFail: true });
    expect(r.stdout).toMatch(/status: REFUSED/);
    // dig checks the answer came from the server it asked.
    expect(r.stdout).toMatch(new RegExp(`SERVER: ${DNS.replace(/\./g, "\\.")}#53`));
    // curl cannot even resolve it.
    expect(await httpGet("app", "http://evil.test/")).toBe(0);
    const flows = (await cluster.admin("/flows?protocol=dns&verdict=DROPPED")).body;
    expect(flows).toContain('"query":"evil.test."');
    expect(flows).toContain('"rcode":"REFUSED"');
    expect(await metrics()).toMatch(/hubble_dns_responses_total\{rcode="REFUSED",qtypes="A",ips_returned="0"/);
  });

  test("an address of an allowed name that nobody on the node resolved is not reachable", async () => {
    expect(await httpGet("app", `http://${WORLD.other}/`)).toBe(0);
    expect(await dig("app", "other.example.com")).toMatchObject({ status: "NOERROR", answers: [WORLD.other] });
    expect(await httpGet("app", `http://${WORLD.other}/`)).toBe(200);
  });

  test("a CNAME chain: the name asked is learned with the chain's addresses", async () => {
    expect(await dig("app", "www.example.com")).toMatchObject({ status: "NOERROR", answers: ["real.example.net.", WORLD.real] });
    expect(await httpGet("app", "http://www.example.com/")).toBe(200);
    const policy = JSON.parse((await cluster.admin("/policy")).body) as { fqdn: { name: string; ips: { ip: string; expiresAt: string }[] }[] };
    const www = policy.fqdn.find((n) => n.name === "www.example.com.");
    expect(www?.ips.map((i) => i.ip)).toEqual([WORLD.real]);
    // The chain's lowest TTL (the A record's 60 s, not the CNAME's 120 s).
    const left = Date.parse(www!.ips[0]!.expiresAt) - Date.now();
    expect(left).toBeLessThanOrEqual(60_000);
    expect(left).toBeGreaterThan(0);
  });

  test("queries reach the resolver from the pod's own address, over UDP and TCP", async () => {
    const app = cluster.topo.pod("app").ip;
    expect(await dig("app", "src-udp.example.com")).toMatchObject({ status: "NOERROR", answers: [WORLD.api], tcp: false });
    expect(dnsmasq!.clientsOf("src-udp.example.com")).toEqual([app]);
    // From a socket of the source-preserving pool, which /metrics counts.
    const m = await metrics();
    expect(m).toMatch(/\nl7proxy_dns_upstream_sockets [1-9]/);
    expect(m).toMatch(/\nl7proxy_dns_upstream_sockets_opened_total [1-9]/);
    expect(m).toMatch(/\nl7proxy_dns_upstream_socket_failures_total\{reason="exhausted"\} 0\n/);
    expect(await dig("app", "src-tcp.example.com", ["+tcp"])).toMatchObject({ status: "NOERROR", answers: [WORLD.api], tcp: true });
    expect(dnsmasq!.clientsOf("src-tcp.example.com")).toEqual([app]);
  });

  test("with --no-preserve-source the resolver sees the node's address", async () => {
    await cluster.stopProxy();
    await cluster.startProxy(["--no-preserve-source"]);
    try {
      expect(await dig("app", "src-node.example.com")).toMatchObject({ status: "NOERROR", answers: [WORLD.api] });
      expect(dnsmasq!.clientsOf("src-node.example.com")).toEqual([cluster.topo.nodeIp]);
    } finally {
      await cluster.stopProxy();
      await cluster.startProxy();
    }
  });

  test("DNS over TCP is decided the same way", async () => {
    expect(await dig("app", "api.example.com", ["+tcp"])).toMatchObject({ status: "NOERROR", answers: [WORLD.api], tcp: true });
    expect((await dig("app", "evil.test", ["+tcp"])).status).toBe("REFUSED");
  });

  test("a truncated UDP answer passes as is, and the client's TCP retry gets the whole answer", async () => {
    const r = await dig("app", "big.example.com", ["+noedns"]);
    expect(r.status).toBe("NOERROR");
    expect(r.answers).toHaveLength(40);
    const flows = (await cluster.admin("/flows?protocol=dns")).body;
    expect(flows).toMatch(/"query":"big\.example\.com\.".*"transport":"tcp"/);
  });

  test("an expired name stops allowing new connections", async () => {
    expect(await dig("app", "short.example.com")).toMatchObject({ status: "NOERROR", answers: [WORLD.short] });
    expect(await httpGet("app", `http://${WORLD.short}/`)).toBe(200);
    await sleep(3000);
    expect(await httpGet("app", `http://${WORLD.short}/`)).toBe(0);
  });

  test("connecting right after the answer is allowed (Node's resolver, then connect at once)", async () => {
    const script = `
      const dns = require("node:dns");
      const http = require("node:http");
      dns.resolve4("race.example.com", (err, ips) => {
        if (err) { console.log("resolve " + err.code); return; }
        http.get({ host: ips[0], port: 80, path: "/", timeout: 2000 }, (res) => { console.log("status " + res.statusCode); res.resume(); })
          .on("error", (e) => console.log("error " + e.code));
      });`;
    const r = await runIn(ns("app"), process.execPath, ["-e", script], { allowFail: true });
    expect(r.stdout.trim()).toBe("status 200");
  });

  test("a restart between the answer and the connection keeps the connection allowed", async () => {
    expect(await dig("app", "late.example.com")).toMatchObject({ status: "NOERROR", answers: [WORLD.late] });
    await cluster.restartProxy();
    await cluster.waitReady();
    expect(await httpGet("app", `http://${WORLD.late}/`)).toBe(200);
    // The restarted proxy answers DNS too.
    expect((await dig("app", "api.example.com")).status).toBe("NOERROR");
  });

  test("restarts with no DNS answer in between keep the connection allowed, however many", async () => {
    expect(await dig("app", "twice.example.com")).toMatchObject({ status: "NOERROR", answers: [WORLD.twice] });
    // Each restart's new process must keep what it restored: the state file it came from
    // goes once a later process finds its writer gone.
    for (let i = 0; i < 3; i++) {
      await cluster.restartProxy();
      await cluster.waitReady();
    }
    expect(await httpGet("app", `http://${WORLD.twice}/`)).toBe(200);
  }, 90_000);

  test("malformed queries never crash the proxy: SERVFAIL or dropped, and counted", async () => {
    const send = `
      const s = require("node:dgram").createSocket("udp4");
      const packets = [
        Buffer.from("abcd", "hex"),
        Buffer.from("12340100000100000000000003666f6fc00c00010001", "hex"),
        Buffer.from("1234010000010000000000004041414141", "hex"),
      ];
      const got = [];
      s.on("message", (m) => got.push(m.toString("hex")));
      let i = 0;
      const next = () => { if (i < packets.length) s.send(packets[i++], 53, "${DNS}", next); };
      next();
      setTimeout(() => { console.log(JSON.stringify(got)); s.close(); }, 1500);`;
    const r = await runIn(ns("app"), process.execPath, ["-e", send], { allowFail: true });
    const answers = JSON.parse(r.stdout) as string[];
    // The two that have a header get SERVFAIL under their ID; the 2-byte one gets nothing.
    expect(answers).toHaveLength(2);
    for (const a of answers) {
      expect(a.slice(0, 4)).toBe("1234");
      expect(parseInt(a.slice(4, 8), 16) & 0x800f).toBe(0x8002);
    }
    expect(await metrics()).toMatch(/l7proxy_parse_errors_total\{code="L7P_ERR_DNS_MALFORMED"\} [3-9]/);
    expect((await dig("app", "api.example.com")).status).toBe("NOERROR");
  });

  test("NXDOMAIN for denied names with --dns-reject-response-code name-error", async () => {
    await cluster.stopProxy();
    await cluster.startProxy(["--dns-reject-response-code", "name-error"]);
    expect((await dig("app", "evil.test")).status).toBe("NXDOMAIN");
    await cluster.stopProxy();
    await cluster.startProxy();
  });

  test("policy audit mode: a denied name is answered by the resolver and recorded as AUDIT", async () => {
    await cluster.stopProxy();
    await cluster.startProxy(["--policy-audit-mode"]);
    try {
      expect(await dig("app", "evil.test")).toMatchObject({ status: "NOERROR", answers: [WORLD.evil] });
      const flows = (await cluster.admin("/flows?protocol=dns&verdict=AUDIT")).body;
      expect(flows).toContain('"query":"evil.test."');
    } finally {
      await cluster.stopProxy();
      await cluster.startProxy();
    }
  });

  test("toFQDNs on UDP: a datagram sent right after the answer passes (the answer waits for the nftables sets)", async () => {
    const udp = await UdpEchoServer.start(ns("w-udp"), [5353]);
    try {
      await cluster.applyPolicies([UDP_FQDN]);
      expect(await udpExchange(ns("app"), WORLD.udp, 5353, "early", { timeoutMs: 1000 })).toBeNull();
      expect(udp.received).toEqual([]);
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
      // That answer was held until the sets were refilled: counted, and not timed out.
      const m = await metrics();
      expect(m).toMatch(/\nl7proxy_fqdn_answer_hold_seconds_count [1-9]/);
      expect(m).toMatch(/\nl7proxy_fqdn_answer_hold_timeouts_total 0\n/);
    } finally {
      udp.stop();
      await cluster.applyPolicies([EXAMPLE_COM]);
    }
  });

  test("Cilium's tofqdn-dns-visibility example: every name resolves, only its FQDNs are reachable", async () => {
    await cluster.applyPolicies([VISIBILITY]);
    expect(await dig("app", "cilium.io")).toMatchObject({ status: "NOERROR", answers: [WORLD.cilium] });
    expect(await httpGet("app", `http://${WORLD.cilium}/`)).toBe(200);
    // dns: matchPattern "*" lets evil.test resolve, but toFQDNs does not name it.
    expect(await dig("app", "evil.test")).toMatchObject({ status: "NOERROR", answers: [WORLD.evil] });
    expect(await httpGet("app", `http://${WORLD.evil}/`)).toBe(0);
    // A pod the policy does not select is not enforced at all.
    expect(await httpGet("other", `http://${WORLD.evil}/`)).toBe(200);
  });

  test("a resolver that does not answer in time gets the client a SERVFAIL", async () => {
    dnsmasq?.kill("SIGSTOP");
    try {
      // --dns-upstream-timeout-ms 1500, well within dig's 3 s.
      expect((await dig("app", "api.example.com")).status).toBe("SERVFAIL");
      expect((await dig("app", "api.example.com", ["+tcp"])).status).toBe("SERVFAIL");
    } finally {
      dnsmasq?.kill("SIGCONT");
    }
    expect((await dig("app", "api.example.com")).status).toBe("NOERROR");
  });
});
