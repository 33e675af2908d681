// The DNS proxy over IPv6: the ip6 redirect set, the IPv6 transparent UDP listener with
// IPV6_RECVORIGDSTADDR, replies from the resolver's IPv6 address, queries forwarded from the
// pod's own IPv6 address (IPV6_TRANSPARENT), TCP DNS over IPv6, and an AAAA answer allowing
// the address it names. All with the proxy's default listener (`--proxy-host auto`): TPROXY
// hands IPv6 connections only to an IPv6 socket, so a listener on 0.0.0.0 would leave TCP
// DNS and HTTP over IPv6 without one (reset by the nft rules).
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, REPO_ROOT, waitForOutput } from "../../src/netns/cluster.js";
import { runIn, spawnIn } from "../../src/netns/exec.js";
import { Dnsmasq } from "../support/dnsmasq.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("DNS proxy IPv6 e2e");
const DNS6 = "fd00:208::53";
const DNS4 = "10.208.0.53";
const API6 = "fd00:208:1::10";
const APP6 = "fd00:208::10";

describe.runIf(canRun)("DNS proxy over IPv6", () => {
  const cluster = new NetnsCluster(`d6${process.pid % 100000}`, {
    endpointsFile: join(import.meta.dirname, "../fixtures/e2e/dns6-endpoints.yaml"),
    adminPort: 9914,
    extraPods: [{ name: "w-api", ip: "10.208.1.10", ip6: API6 }],
    servers: [],
  });
  let server: ChildProcess | undefined;
  let dnsmasq: Dnsmasq | undefined;
  const app = () => cluster.topo.pod("app").netns;

  async function dig(name: string, type: string, opts: string[] = []): Promise<{ status: string; out: string }> {
    const r = await runIn(app(), "dig", ["-6", `@${DNS6}`, "+time=3", "+tries=1", ...opts, name, type], { allowFail: true });
    return { status: /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? "none", out: r.stdout };
  }

  beforeAll(async () => {
    await cluster.start();
    server = spawnIn(cluster.topo.pod("w-api").netns, process.execPath, [
      "-e",
      `require("node:http").createServer((q, s) => s.end("api\\n")).listen(80, "::", () => console.log("listening"))`,
    ]);
    await waitForOutput(server, /listening/);
    dnsmasq = await Dnsmasq.start(cluster.topo.pod("coredns").netns, [DNS6, DNS4], [
      `--host-record=api.example.com,10.208.1.10,${API6},300`, "--host-record=evil.test,10.208.1.66,300",
      ...["src-udp", "src-tcp", "src-node"].map((n) => `--host-record=${n}.example.com,${API6},300`),
    ]);
    await cluster.applyPolicies([join(REPO_ROOT, "proxy-config/dns/allow-egress-to-example-com.yaml")]);
  }, 120_000);

  afterAll(async () => {
    dnsmasq?.kill();
    server?.kill("SIGKILL");
    await cluster.stop();
  });

  test("an AAAA answer comes from the resolver's IPv6 address and allows what it names", async () => {
    expect((await runIn(app(), "curl", ["-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", `http://[${API6}]/`], { allowFail: true })).stdout).toBe("000");
    const r = await dig("api.example.com", "AAAA");
    expect(r.status).toBe("NOERROR");
    expect(r.out).toContain(API6);
    expect(r.out).toContain(`SERVER: ${DNS6}#53`);
    expect((await runIn(app(), "curl", ["-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", `http://[${API6}]/`], { allowFail: true })).stdout).toBe("200");
  });

  test("denied names get REFUSED over IPv6, on UDP and TCP", async () => {
    expect((await dig("evil.test", "A")).status).toBe("REFUSED");
    expect((await dig("evil.test", "A", ["+tcp"])).status).toBe("REFUSED");
    const tcp = await dig("api.example.com", "AAAA", ["+tcp"]);
    expect(tcp.status).toBe("NOERROR");
    expect(tcp.out).toContain(`SERVER: ${DNS6}#53(${DNS6}) (TCP)`);
  });

  test("the default listener takes IPv4 connections too (one dual-stack socket)", async () => {
    const ss = await runIn(cluster.topo.nodeNetns, "ss", ["-Hltn", "sport = :15001"]);
    expect(ss.stdout).toMatch(/\[::\]:15001|\*:15001/);
    const r = await runIn(app(), "dig", [`@${DNS4}`, "+time=3", "+tries=1", "+tcp", "api.example.com", "A"], { allowFail: true });
    expect(r.stdout).toMatch(/status: NOERROR/);
  });

  test("queries reach the resolver from the pod's own IPv6 address, over UDP and TCP", async () => {
    expect((await dig("src-udp.example.com", "AAAA")).status).toBe("NOERROR");
    expect(dnsmasq!.clientsOf("src-udp.example.com")).toEqual([APP6]);
    expect((await dig("src-tcp.example.com", "AAAA", ["+tcp"])).status).toBe("NOERROR");
    expect(dnsmasq!.clientsOf("src-tcp.example.com")).toEqual([APP6]);
  });

  test("with --no-preserve-source the resolver sees the node's IPv6 address", async () => {
    await cluster.stopProxy();
    await cluster.startProxy(["--no-preserve-source"]);
    try {
      expect((await dig("src-node.example.com", "AAAA")).status).toBe("NOERROR");
      expect(dnsmasq!.clientsOf("src-node.example.com")).toEqual([cluster.topo.nodeIp6]);
    } finally {
      await cluster.stopProxy();
      await cluster.startProxy();
    }
  });
});
