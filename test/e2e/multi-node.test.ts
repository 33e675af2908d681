// Two nodes, each its own node namespace running `l7proxy run --node-name`, routed to each
// other: a's egress policy is decided by node-1's proxy, b's ingress by node-2's, and the
// connection node-1 makes to b carries a's own address, so node-2 identifies a (not node-1)
// and the server logs a's address. With b's second replica on node-1, one proxy decides both
// sides on one connection. Run with the nftables backend (IPv4 and IPv6) and the iptables one.
// DNS too: node-1's DNS proxy forwards a's queries to kube-dns on node-2 from a's own address,
// so node-2, which enforces kube-dns's ingress, lets them through.
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, sleep } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import type { FlowRecord } from "../../src/telemetry/flow-record.js";
import { Dnsmasq } from "../support/dnsmasq.js";
import { runLoad } from "../support/load-client.js";
import { requireRootOrSkip } from "../support/root.js";

const canRun = requireRootOrSkip("multi-node e2e");
const FIX = join(import.meta.dirname, "../fixtures/e2e");
const NODES = ["node-1", "node-2"];
const A = "10.210.1.10";
const A6 = "fd00:210::1:10";
const B = "10.210.2.20";
const B6 = "fd00:210::2:20";
const B_NEAR = "10.210.1.20";
const DNS = "10.210.2.53";
const DNS6 = "fd00:210::2:53";
const POLICIES = [join(FIX, "multinode-a-egress.yaml"), join(FIX, "multinode-b-ingress.yaml")];
const DNS_POLICIES = [join(FIX, "multinode-a-dns.yaml"), join(FIX, "multinode-dns-ingress.yaml")];

interface Answer {
  status: number;
  body: string;
  clientAddress: string;
  curlExit: number;
}

/**
 * A two-node cluster for the enclosing describe: started with both policies applied before
 * its tests, torn down after; `received(server)` is every byte that server got.
 */
function useTwoNodeCluster(tag: string, adminPort: number, proxyArgs: string[], policies: string[] = POLICIES): { cluster: NetnsCluster; received: (server: string) => Promise<string> } {
  const file = (server: string): string => join(tmpdir(), `l7proxy-${tag}-${server}.bytes`);
  const cluster = new NetnsCluster(tag, {
    endpointsFile: join(FIX, "multinode-endpoints.yaml"),
    adminPort,
    nodes: NODES,
    proxyArgs,
    servers: [
      { pod: "b", script: "demo/echo-server.js", args: ["80", "b", file("b")] },
      { pod: "b-near", script: "demo/echo-server.js", args: ["80", "b-near", file("b-near")] },
    ],
  });
  beforeAll(async () => {
    await cluster.start();
    await cluster.applyPolicies(policies);
  }, 120_000);
  afterAll(async () => {
    await cluster.stop();
    for (const server of ["b", "b-near"]) await rm(file(server), { force: true });
  }, 60_000);
  return { cluster, received: async (server) => readFile(file(server), "utf8").catch(() => "") };
}

async function get(cluster: NetnsCluster, from: string, url: string, extra: string[] = []): Promise<Answer> {
  const r = await cluster.curl(from, [...extra, "-D", "-", url]);
  const split = r.body.indexOf("\r\n\r\n");
  const head = split >= 0 ? r.body.slice(0, split) : "";
  const clientAddress = /^x-client-address: (\S+)/im.exec(head)?.[1] ?? "";
  return { status: r.status, body: split >= 0 ? r.body.slice(split + 4) : r.body, clientAddress, curlExit: r.code };
}

async function flows(cluster: NetnsCluster, node: string, query = ""): Promise<FlowRecord[]> {
  const body = (await cluster.admin(`/flows${query}`, node)).body.trim();
  return body === "" ? [] : body.split("\n").map((l) => JSON.parse(l) as FlowRecord);
}

/** The L7 records of one path on a node, waiting briefly for the record to be written. */
async function recordsFor(cluster: NetnsCluster, node: string, path: string): Promise<FlowRecord[]> {
  for (let i = 0; i < 20; i++) {
    const found = (await flows(cluster, node, "?protocol=http")).filter((f) => f.http?.url === path);
    if (found.length > 0) return found;
    await sleep(50);
  }
  return [];
}

function describeTwoNodes(name: string, tag: string, adminPort: number, proxyArgs: string[], ipv6: boolean): void {
  describe.runIf(canRun)(name, () => {
    const { cluster, received } = useTwoNodeCluster(tag, adminPort, proxyArgs);

    test("a request both policies allow crosses the nodes: 200, and b sees a's own address", async () => {
      const r = await get(cluster, "a", `http://${B}/`);
      expect(r.status).toBe(200);
      expect(r.body).toBe("b GET / 0\n");
      expect(r.clientAddress).toBe(A);
      // Each node recorded its own side, naming its own policy.
      const [egress] = await recordsFor(cluster, "node-1", "/");
      expect(egress).toMatchObject({ verdict: "FORWARDED", direction: "egress", policy: { ref: "default/a-egress", direction: "egress" } });
      expect(egress!.sides.map((s) => s.direction)).toEqual(["egress"]);
      const [ingress] = await recordsFor(cluster, "node-2", "/");
      expect(ingress).toMatchObject({ verdict: "FORWARDED", direction: "ingress", policy: { ref: "default/b-ingress", direction: "ingress" } });
      expect(ingress!.source).toMatchObject({ pod: "a", ip: A });
      expect(ingress!.sides.map((s) => s.direction)).toEqual(["ingress"]);
    });

    test("a request a's egress denies gets 403 from node-1, and nothing of it reaches node-2", async () => {
      const r = await get(cluster, "a", `http://${B}/egress-denies`);
      expect(r.status).toBe(403);
      expect(r.body).toBe("Access denied\r\n");
      const [denied] = await recordsFor(cluster, "node-1", "/egress-denies");
      expect(denied).toMatchObject({ verdict: "DROPPED", policy: { direction: "egress" } });
      expect((await flows(cluster, "node-2", "?protocol=http")).some((f) => f.http?.url === "/egress-denies")).toBe(false);
      expect(await received("b")).not.toContain("/egress-denies");
    });

    test("a request only b's ingress denies gets 403 from node-2", async () => {
      const r = await get(cluster, "a", `http://${B}/ingress-denies`);
      expect(r.status).toBe(403);
      expect(r.body).toBe("Access denied\r\n");
      const [denied] = await recordsFor(cluster, "node-2", "/ingress-denies");
      expect(denied).toMatchObject({ verdict: "DROPPED", policy: { ref: "default/b-ingress", direction: "ingress" } });
      // Node-1 allowed it (a's egress) and relayed node-2's answer.
      const [relayed] = await recordsFor(cluster, "node-1", "/ingress-denies");
      expect(relayed).toMatchObject({ verdict: "FORWARDED", policy: { ref: "default/a-egress" } });
      expect(relayed!.http?.code).toBe(403);
      expect(await received("b")).not.toContain("/ingress-denies");
    });

    test("a caller b's ingress does not allow is refused at L3/L4 by node-2", async () => {
      const r = await get(cluster, "c", `http://${B}/`);
      expect(r.status).toBe(0);
      expect(r.curlExit).not.toBe(0);
      const dropped = (await flows(cluster, "node-2", "?verdict=DROPPED")).filter((f) => f.type === "L3_L4" && f.source.pod === "c");
      expect(dropped.length).toBeGreaterThan(0);
    });

    test("with b on the same node, one proxy decides both sides on one connection", async () => {
      const ok = await get(cluster, "a", `http://${B_NEAR}/`);
      expect(ok.status).toBe(200);
      expect(ok.body).toBe("b-near GET / 0\n");
      expect(ok.clientAddress).toBe(A);
      expect((await get(cluster, "a", `http://${B_NEAR}/egress-denies`)).status).toBe(403);
      expect((await get(cluster, "a", `http://${B_NEAR}/ingress-denies`)).status).toBe(403);
      const [both] = (await recordsFor(cluster, "node-1", "/")).filter((f) => f.destination.pod === "b-near");
      expect(both!.sides.map((s) => s.direction).sort()).toEqual(["egress", "ingress"]);
      const [ingressDenied] = (await recordsFor(cluster, "node-1", "/ingress-denies")).filter((f) => f.destination.pod === "b-near");
      expect(ingressDenied).toMatchObject({ verdict: "DROPPED", policy: { ref: "default/b-ingress", direction: "ingress" } });
      expect(await received("b-near")).not.toMatch(/denies/);
    });

    if (ipv6) {
      test("IPv6: the same across nodes, and b sees a's IPv6 address", async () => {
        const r = await get(cluster, "a", `http://[${B6}]/`, ["-6"]);
        expect(r.status).toBe(200);
        expect(r.body).toBe("b GET / 0\n");
        expect(r.clientAddress).toBe(A6);
        expect((await get(cluster, "a", `http://[${B6}]/egress-denies`, ["-6"])).status).toBe(403);
        expect((await get(cluster, "a", `http://[${B6}]/ingress-denies`, ["-6"])).status).toBe(403);
        const [ingress] = (await recordsFor(cluster, "node-2", "/")).filter((f) => f.source.ip === A6);
        expect(ingress).toMatchObject({ verdict: "FORWARDED", policy: { ref: "default/b-ingress" } });
      });
    }
  });
}

describeTwoNodes("two nodes, nftables, IPv4 and IPv6", `mn${process.pid % 10000}`, 9931, [], true);
describeTwoNodes("two nodes, iptables backend, IPv4 and IPv6", `mi${process.pid % 10000}`, 9932, ["--rules-backend", "iptables"], true);

describe.runIf(canRun)("two nodes: restarts and turning source preservation off", () => {
  const { cluster } = useTwoNodeCluster(`mr${process.pid % 10000}`, 9933, []);

  test("a rolling restart of node-2's proxy under traffic from node-1 loses no request", { timeout: 90_000 }, async () => {
    const load = runLoad(cluster.topo.pod("a").netns, `http://${B}/`, { connections: 16, durationMs: 12_000, rate: 1000 });
    await sleep(4000);
    const exit = await cluster.restartProxy("node-2");
    const report = await load;
    console.log(`two-node restart: ${report.sent} sent, ${report.ok} ok, failures ${JSON.stringify(report.failures)}`);
    expect(exit).toBe(0);
    expect(report.sent).toBeGreaterThan(3000);
    expect(report.failures).toEqual({});
    // The new node-2 proxy still enforces b's ingress.
    expect((await get(cluster, "a", `http://${B}/ingress-denies`)).status).toBe(403);
  });

  test("with --no-preserve-source node-2 sees node-1's address, so b's ingress refuses it", async () => {
    await cluster.stopProxy("node-1");
    await cluster.startProxy(["--no-preserve-source"], "node-1");
    try {
      const r = await get(cluster, "a", `http://${B}/`);
      // Node-1 allowed a's egress; node-2 identified the caller as node-1 (world) and reset it.
      expect(r.status).toBe(503);
      const dropped = (await flows(cluster, "node-2", "?verdict=DROPPED")).filter((f) => f.type === "L3_L4" && f.source.ip === cluster.topo.node("node-1").ip);
      expect(dropped.length).toBeGreaterThan(0);
    } finally {
      await cluster.stopProxy("node-1");
      await cluster.startProxy([], "node-1");
    }
    expect((await get(cluster, "a", `http://${B}/`)).clientAddress).toBe(A);
  });
});

function describeDnsTwoNodes(name: string, tag: string, adminPort: number, proxyArgs: string[]): void {
  describe.runIf(canRun)(name, () => {
    const { cluster } = useTwoNodeCluster(tag, adminPort, ["--dns-upstream-timeout-ms", "1500", ...proxyArgs], DNS_POLICIES);
    let dnsmasq: Dnsmasq | undefined;
    const names = ["udp4", "tcp4", "udp6", "tcp6", "node", "c"];

    beforeAll(async () => {
      const records = names.map((n) => `--host-record=${n}.example.com,10.210.9.9,fd00:210::9:9,300`);
      dnsmasq = await Dnsmasq.start(cluster.topo.pod("kube-dns").netns, [DNS, DNS6], records);
    });
    afterAll(() => dnsmasq?.kill());

    async function dig(pod: string, server: string, name: string, opts: string[] = []): Promise<string> {
      const r = await runIn(cluster.topo.pod(pod).netns, "dig", [`@${server}`, "+time=3", "+tries=1", ...opts, name], { allowFail: true });
      return /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? "none";
    }

    test("a's queries reach kube-dns on node-2 from a's own address (UDP and TCP, IPv4 and IPv6), which its ingress allows", async () => {
      expect(await dig("a", DNS, "udp4.example.com")).toBe("NOERROR");
      expect(await dig("a", DNS, "tcp4.example.com", ["+tcp"])).toBe("NOERROR");
      expect(await dig("a", DNS6, "udp6.example.com", ["AAAA"])).toBe("NOERROR");
      expect(await dig("a", DNS6, "tcp6.example.com", ["AAAA", "+tcp"])).toBe("NOERROR");
      expect(dnsmasq!.clientsOf("udp4.example.com")).toEqual([A]);
      expect(dnsmasq!.clientsOf("tcp4.example.com")).toEqual([A]);
      expect(dnsmasq!.clientsOf("udp6.example.com")).toEqual([A6]);
      expect(dnsmasq!.clientsOf("tcp6.example.com")).toEqual([A6]);
      // Node-1's DNS proxy decided a's egress (and would refuse a name outside *.example.com).
      expect(await dig("a", DNS, "evil.test")).toBe("REFUSED");
      // Node-2 enforces kube-dns's ingress: c (whose egress nothing enforces) is dropped there.
      expect(await dig("c", DNS, "c.example.com")).toBe("none");
      expect(dnsmasq!.clientsOf("c.example.com")).toEqual([]);
    });

    test("with --no-preserve-source node-2 sees node-1's address, so kube-dns's ingress drops the query (SERVFAIL)", async () => {
      await cluster.stopProxy("node-1");
      await cluster.startProxy(["--no-preserve-source"], "node-1");
      try {
        expect(await dig("a", DNS, "node.example.com")).toBe("SERVFAIL");
        expect(dnsmasq!.clientsOf("node.example.com")).toEqual([]);
      } finally {
        await cluster.stopProxy("node-1");
        await cluster.startProxy([], "node-1");
      }
      expect(await dig("a", DNS, "udp4.example.com")).toBe("NOERROR");
    });
  });
}

describeDnsTwoNodes("two nodes, DNS to a resolver on the other node, nftables", `md${process.pid % 10000}`, 9934, []);
