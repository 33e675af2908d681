// The DNS story as a small cluster in network namespaces: an app pod, kube-dns (dnsmasq with
// the story's records), servers at "world" addresses for api.example.com, docs.example.com
// and evil.test, and a node namespace running `l7proxy run`. Used by `l7proxy demo dns`.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NetnsCluster, REPO_ROOT } from "../netns/cluster.js";
import { Dnsmasq } from "../netns/dnsmasq.js";
import { runIn } from "../netns/exec.js";

export const DNS_DIR = join(REPO_ROOT, "proxy-config", "dns");
export const KUBE_DNS = "10.211.0.53";
export const WORLD = { api: "10.211.1.10", docs: "10.211.1.11", evil: "10.211.1.66" } as const;
const NAMES: Record<keyof typeof WORLD, string> = { api: "api.example.com", docs: "docs.example.com", evil: "evil.test" };

export interface Lookup {
  /** dig's status line: NOERROR, REFUSED, ... or "no answer". */
  status: string;
  addresses: string[];
}

export class ExampleComCluster extends NetnsCluster {
  #dnsmasq: Dnsmasq | null = null;
  #resolvConf: string | null = null;

  constructor(tag: string) {
    super(tag, {
      endpointsFile: join(DNS_DIR, "endpoints.yaml"),
      extraPods: Object.entries(WORLD).map(([name, ip]) => ({ name: `w-${name}`, ip })),
      servers: Object.keys(WORLD).map((name) => ({ pod: `w-${name}`, script: "demo/echo-server.js", args: ["80", NAMES[name as keyof typeof WORLD]] })),
    });
  }

  override async start(): Promise<void> {
    await super.start({ proxy: false });
    const records = Object.entries(WORLD).map(([name, ip]) => `--host-record=${NAMES[name as keyof typeof WORLD]},${ip},300`);
    this.#dnsmasq = await Dnsmasq.start(this.topo.pod("coredns").netns, [KUBE_DNS], records);
    // curl in the app pod resolves through the pod's own resolv.conf, which `ip netns exec`
    // bind-mounts from /etc/netns/NAME/ (as the kubelet writes one per pod).
    const dir = `/etc/netns/${this.topo.pod("app").netns}`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "resolv.conf"), `nameserver ${KUBE_DNS}\noptions timeout:2 attempts:1\n`);
    this.#resolvConf = dir;
    await this.startProxy();
  }

  async applyPolicy(file: string | null): Promise<void> {
    await this.applyPolicies(file === null ? [] : [join(DNS_DIR, file)]);
  }

  /** `dig NAME` in the app pod, against kube-dns. */
  async lookup(name: string): Promise<Lookup> {
    const r = await runIn(this.topo.pod("app").netns, "dig", [`@${KUBE_DNS}`, "+time=2", "+tries=1", name], { allowFail: true });
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? "no answer";
    const addresses = r.stdout
      .split("\n")
      .filter((l) => !l.startsWith(";") && /\sIN\s+A\s/.test(l))
      .map((l) => l.trim().split(/\s+/).at(-1)!);
    return { status, addresses };
  }

  override async stop(): Promise<void> {
    this.#dnsmasq?.kill();
    if (this.#resolvConf !== null) rmSync(this.#resolvConf, { recursive: true, force: true });
    await super.stop();
  }
}

export function worldName(ip: string): string | undefined {
  const e = Object.entries(WORLD).find(([, v]) => v === ip);
  return e === undefined ? undefined : NAMES[e[0] as keyof typeof WORLD];
}
