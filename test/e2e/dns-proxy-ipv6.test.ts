// The DNS proxy over IPv6: the ip6 redirect set, the IPv6 transparent UDP listener with
// IPV6_RECVORIGDSTADDR, replies from the resolver's IPv6 address, TCP DNS over IPv6, and an
// AAAA answer allowing the address it names.
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, REPO_ROOT, waitForOutput } from "../../src/netns/cluster.js";
import { runIn, spawnIn } from "../../src/netns/exec.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("DNS proxy IPv6 e2e");
const DNS6 = "fd00:208::53";
const API6 = "fd00:208:1::10";

describe.runIf(canRun)("DNS proxy over IPv6", () => {
  const cluster = new NetnsCluster(`d6${process.pid % 100000}`, {
    endpointsFile: join(import.meta.dirname, "../fixtures/e2e/dns6-endpoints.yaml"),
    adminPort: 9914,
    extraPods: [{ name: "w-api", ip: "10.208.1.10", ip6: API6 }],
    servers: [],
    // A dual-stack listener: TPROXY'd IPv6 connections (TCP DNS, HTTP) need an IPv6 socket.
    proxyArgs: ["--proxy-host", "::"],
  });
  let server: ChildProcess | undefined;
  let dnsmasq: ChildProcess | undefined;
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
    dnsmasq = spawnIn(cluster.topo.pod("coredns").netns, "dnsmasq", [
      "-k", "-p", "53", `--listen-address=${DNS6}`, "--bind-interfaces", "--no-resolv", "--no-hosts",
      `--host-record=api.example.com,10.208.1.10,${API6},300`, "--host-record=evil.test,10.208.1.66,300",
    ]);
    await cluster.applyPolicies([join(REPO_ROOT, "proxy-config/dns/allow-egress-to-example-com.yaml")]);
  }, 120_000);

  afterAll(async () => {
    dnsmasq?.kill("SIGKILL");
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
    expect((await dig("api.example.com", "AAAA", ["+tcp"])).status).toBe("NOERROR");
  });
});
