// The DNS proxy and toFQDNs with the iptables backend (`--rules-backend iptables`), in network
// namespaces, as dns-proxy.test.ts does with nftables: the mangle chain L7PROXY-DNS TPROXYs
// the pod's UDP DNS to the proxy and hands the resolver's answers to the proxy's upstream
// sockets, the filter chain L7PROXY-DGM still drops the pod's other UDP. dnsmasq as kube-dns,
// dig and curl as clients, HTTP servers at "world" addresses only a DNS answer opens. IPv4
// and IPv6, with the proxy's default listener (no --proxy-host).
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NetnsCluster, REPO_ROOT } from "../../src/netns/cluster.js";
import { runIn } from "../../src/netns/exec.js";
import { Dnsmasq } from "../support/dnsmasq.js";
import { requireRootOrSkip } from "../support/root.js";
import { UdpEchoServer, udpExchange } from "../support/udp-peers.js";

const canRun = requireRootOrSkip("DNS proxy iptables e2e");
const EXAMPLE_COM = join(REPO_ROOT, "proxy-config/dns/allow-egress-to-example-com.yaml");
const DNS = "10.215.0.53";
const DNS6 = "fd00:215::53";
const APP = "10.215.0.10";
const APP6 = "fd00:215::10";
const VIP = "10.96.0.10";
const WORLD = { api: "10.215.1.10", api6: "fd00:215:1::10", other: "10.215.1.11", other6: "fd00:215:1::11" };

describe.runIf(canRun)("DNS proxy and toFQDNs, iptables backend", () => {
  const cluster = new NetnsCluster(`di${process.pid % 100000}`, {
    endpointsFile: join(import.meta.dirname, "../fixtures/e2e/dns-iptables-endpoints.yaml"),
    adminPort: 9915,
    extraPods: [
      { name: "w-api", ip: WORLD.api, ip6: WORLD.api6 },
      { name: "w-other", ip: WORLD.other, ip6: WORLD.other6 },
    ],
    servers: [
      { pod: "w-api", script: "demo/echo-server.js", args: ["80", "api"] },
      { pod: "w-other", script: "demo/echo-server.js", args: ["80", "other"] },
    ],
    proxyArgs: ["--rules-backend", "iptables", "--dns-upstream-timeout-ms", "1500"],
  });
  let dnsmasq: Dnsmasq | undefined;
  const ns = (pod: string) => cluster.topo.pod(pod).netns;

  async function dig(name: string, opts: string[] = []): Promise<{ status: string; answers: string[]; out: string }> {
    const six = opts.includes("-6");
    const r = await runIn(ns("app"), "dig", [...(six ? ["-6"] : []), `@${six ? DNS6 : DNS}`, "+time=3", "+tries=1", ...opts.filter((o) => o !== "-6"), name], { allowFail: true });
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? "none";
    const answers = r.stdout
      .split("\n")
      .filter((l) => !l.startsWith(";") && /\sIN\s+(A|AAAA|CNAME)\s/.test(l))
      .map((l) => l.trim().split(/\s+/).at(-1)!);
    return { status, answers, out: r.stdout };
  }

  const http = async (url: string): Promise<number> => (await cluster.curl("app", [url])).status;

  beforeAll(async () => {
    await cluster.start();
    const records = [
      `--host-record=api.example.com,${WORLD.api},${WORLD.api6},300`,
      `--host-record=other.example.com,${WORLD.other},300`,
      `--host-record=other6.example.com,${WORLD.other6},300`,
      "--host-record=evil.test,10.215.1.66,300",
      ...["udp4", "tcp4", "udp6", "tcp6", "down", "vip-udp", "vip-tcp"].map((n) => `--host-record=${n}.example.com,${WORLD.api},${WORLD.api6},300`),
    ];
    dnsmasq = await Dnsmasq.start(ns("coredns"), [DNS, DNS6], records);
    // kube-proxy (iptables mode) stand-in: kube-dns's Service VIP, DNATed after mangle.
    for (const proto of ["udp", "tcp"]) {
      await runIn(cluster.topo.nodeNetns, "iptables", ["-t", "nat", "-A", "PREROUTING", "-d", VIP, "-p", proto, "--dport", "53", "-j", "DNAT", "--to-destination", `${DNS}:53`]);
    }
    await cluster.applyPolicies([EXAMPLE_COM]);
  }, 120_000);

  afterAll(async () => {
    dnsmasq?.kill();
    await cluster.stop();
  });

  test("the rules are iptables ones: a TPROXY to the DNS port per (pod, port 53), IPv4 and IPv6", async () => {
    // The rules follow the loaded policy asynchronously: wait (bounded) until they are in.
    const save = async (cmd: string) => (await runIn(cluster.topo.nodeNetns, cmd, ["-t", "mangle"])).stdout;
    let v4 = "";
    let v6 = "";
    for (let i = 0; i < 100; i++) {
      [v4, v6] = [await save("iptables-save"), await save("ip6tables-save")];
      if (v4.includes("-A L7PROXY-DNS -s") && v6.includes("-A L7PROXY-DNS -s")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(v4).toMatch(new RegExp(`-A L7PROXY-DNS -s ${APP.replace(/\./g, "\\.")}/32 -p udp -m udp --dport 53 -j TPROXY --on-port 15053`));
    expect(v6).toMatch(new RegExp(`-A L7PROXY-DNS -s ${APP6}/128 -p udp -m udp --dport 53 -j TPROXY --on-port 15053`));
    expect(v4).toContain("-A PREROUTING -p udp -j L7PROXY-DNS");
    expect((await runIn(cluster.topo.nodeNetns, "nft", ["list", "table", "inet", "l7proxy"], { allowFail: true })).code).not.toBe(0);
  });

  test("an allowed name is answered from the resolver's address, the query having left from the pod's own", async () => {
    const r = await dig("udp4.example.com");
    expect(r).toMatchObject({ status: "NOERROR", answers: [WORLD.api] });
    expect(r.out).toContain(`SERVER: ${DNS}#53(${DNS}) (UDP)`);
    expect(dnsmasq!.clientsOf("udp4.example.com")).toEqual([APP]);
    const flows = (await cluster.admin("/flows?protocol=dns")).body;
    expect(flows).toContain('"query":"udp4.example.com."');
  });

  test("through kube-dns's Service VIP (DNATed after the TPROXY): answered from the VIP, over UDP and TCP", async () => {
    const viaVip = async (name: string, opts: string[]) =>
      (await runIn(ns("app"), "dig", [`@${VIP}`, "+time=3", "+tries=1", ...opts, name], { allowFail: true })).stdout;
    const udp = await viaVip("vip-udp.example.com", []);
    expect(udp).toMatch(/status: NOERROR/);
    expect(udp).toContain(`SERVER: ${VIP}#53(${VIP}) (UDP)`);
    expect(dnsmasq!.clientsOf("vip-udp.example.com")).toEqual([APP]);
    const tcp = await viaVip("vip-tcp.example.com", ["+tcp"]);
    expect(tcp).toMatch(/status: NOERROR/);
    expect(dnsmasq!.clientsOf("vip-tcp.example.com")).toEqual([APP]);
    expect(await viaVip("evil.test", [])).toMatch(/status: REFUSED/);
  });

  test("a denied name gets REFUSED and never reaches the resolver", async () => {
    expect((await dig("evil.test")).status).toBe("REFUSED");
    expect(dnsmasq!.clientsOf("evil.test")).toEqual([]);
  });

  test("toFQDNs: an address is reachable only after the pod resolved its name", async () => {
    expect(await http(`http://${WORLD.other}/`)).toBe(0);
    expect(await dig("other.example.com")).toMatchObject({ status: "NOERROR", answers: [WORLD.other] });
    expect(await http(`http://${WORLD.other}/`)).toBe(200);
  });

  test("DNS over TCP is decided the same way", async () => {
    const r = await dig("tcp4.example.com", ["+tcp"]);
    expect(r).toMatchObject({ status: "NOERROR", answers: [WORLD.api] });
    expect(r.out).toContain("(TCP)");
    expect(dnsmasq!.clientsOf("tcp4.example.com")).toEqual([APP]);
    expect((await dig("evil.test", ["+tcp"])).status).toBe("REFUSED");
  });

  test("IPv6: UDP and TCP DNS from the pod's IPv6 address, REFUSED for denied names, AAAA answers open what they name", async () => {
    expect(await dig("udp6.example.com", ["-6", "AAAA"])).toMatchObject({ status: "NOERROR", answers: [WORLD.api6] });
    expect(dnsmasq!.clientsOf("udp6.example.com")).toEqual([APP6]);
    expect(await dig("tcp6.example.com", ["-6", "+tcp", "AAAA"])).toMatchObject({ status: "NOERROR", answers: [WORLD.api6] });
    expect(dnsmasq!.clientsOf("tcp6.example.com")).toEqual([APP6]);
    expect((await dig("evil.test", ["-6"])).status).toBe("REFUSED");
    expect(await http(`http://[${WORLD.other6}]/`)).toBe(0);
    expect(await dig("other6.example.com", ["-6", "AAAA"])).toMatchObject({ status: "NOERROR", answers: [WORLD.other6] });
    expect(await http(`http://[${WORLD.other6}]/`)).toBe(200);
  });

  test("the pod's other UDP is still dropped (this backend allows none)", async () => {
    const echo = await UdpEchoServer.start(ns("w-api"), [5353]);
    try {
      expect(await udpExchange(ns("app"), WORLD.api, 5353, "not-dns", { timeoutMs: 1000 })).toBeNull();
      expect(echo.got("not-dns")).toBe(false);
    } finally {
      echo.stop();
    }
  });

  test("with the proxy stopped a query is not answered and never reaches the resolver (fail closed)", async () => {
    await cluster.stopProxy();
    try {
      expect((await dig("down.example.com")).status).toBe("none");
      expect((await dig("down.example.com", ["-6", "AAAA"])).status).toBe("none");
      expect(dnsmasq!.clientsOf("down.example.com")).toEqual([]);
    } finally {
      await cluster.startProxy();
    }
    expect((await dig("down.example.com")).status).toBe("NOERROR");
  });
});
