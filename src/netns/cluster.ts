// A small cluster for the demo, the end-to-end tests and the benchmark: the pods of an
// endpoints file in network namespaces, servers started in some of them, a Service VIP DNAT
// (kube-proxy stand-in), and `l7proxy run` in the node namespace watching a policy
// directory that the caller fills. With `nodes`, every node namespace runs its own
// `l7proxy run --node-name` (a DaemonSet), each pod sits on the node its endpoint's
// `nodeName` says, and all proxies watch the same policy directory and endpoints file (as
// they would watch the same Kubernetes API).

import type { ChildProcess } from "node:child_process";
import { copyFile, mkdtemp, readdir, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadEndpointsFile } from "../policy/endpoints/load-endpoints.js";
import { runIn, spawnIn, type CommandResult } from "./exec.js";
import { createTopology, type Topology } from "./topology.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const up = resolve(here, "../..");
/** Repository root, whether running from src/ (tests), dist/ (the CLI) or dist-bench/src/ (benchmarks). */
export const REPO_ROOT = basename(up) === "dist-bench" ? dirname(up) : up;
export const CLI = join(REPO_ROOT, "dist", "cli", "main.js");

export interface ServerSpec {
  pod: string;
  /** Script under dist/ and its arguments, e.g. ["demo/echo-server.js", "80", "api"]. */
  script: string;
  args: string[];
}

export interface ServiceSpec {
  vip: string;
  port: number;
  backends: string[];
  targetPort: number;
}

export interface ClusterOptions {
  endpointsFile: string;
  servers: ServerSpec[];
  services?: ServiceSpec[];
  proxyArgs?: string[];
  /** Node.js flags for the proxy process (benchmarks: --cpu-prof and the like). */
  proxyNodeArgs?: string[];
  /** Where the proxy gets policy: the cluster's policy directory (default) or the Kubernetes API. */
  policySource?: "files" | { kubernetes: { kubeconfig: string; nodeName: string } };
  adminPort?: number;
  /** Pods that are no endpoint of the inventory: "world" addresses (servers outside the cluster). */
  extraPods?: { name: string; ip: string; ip6?: string; node?: string }[];
  /**
   * Node names, the first being the default for endpoints without nodeName. Each proxy runs
   * with `--node-name`. Absent: one node, whose proxy enforces every endpoint.
   */
  nodes?: string[];
}

interface NodeRuntime {
  name: string;
  netns: string;
  proxy: ChildProcess | null;
  log: string;
}

export interface CurlResult extends CommandResult {
  status: number;
  body: string;
}

export class NetnsCluster {
  topo!: Topology;
  policyDir = "";
  readonly adminPort: number;
  #nodes: NodeRuntime[] = [];
  #servers: ChildProcess[] = [];

  constructor(
    readonly tag: string,
    readonly opts: ClusterOptions,
  ) {
    this.adminPort = opts.adminPort ?? 9901;
  }

  /** The first node's proxy. */
  get proxy(): ChildProcess | null {
    return this.#nodes[0]?.proxy ?? null;
  }

  /** What the first node's proxy logged since it was (re)started; proxyLogOf(node) for another. */
  get proxyLog(): string {
    return this.#nodes[0]?.log ?? "";
  }

  set proxyLog(text: string) {
    if (this.#nodes[0] !== undefined) this.#nodes[0].log = text;
  }

  proxyLogOf(node?: string): string {
    return this.#node(node).log;
  }

  /** Names of the nodes, the first one first. */
  get nodeNames(): string[] {
    return this.#nodes.map((n) => n.name);
  }

  /** Builds the cluster; `proxy: false` leaves starting the proxy to the caller (startProxy). */
  async start(opts: { proxy?: boolean } = {}): Promise<void> {
    const inventory = await loadEndpointsFile(this.opts.endpointsFile);
    const nodeNames = this.opts.nodes ?? ["node"];
    const placed = (nodeName: string | undefined, what: string): string | undefined => {
      if (this.opts.nodes === undefined || nodeName === undefined) return undefined;
      if (!nodeNames.includes(nodeName)) throw new Error(`${what}: nodeName "${nodeName}" is none of the cluster's nodes (${nodeNames.join(", ")})`);
      return nodeName;
    };
    // An endpoint's first address is its IPv4 one; an IPv6 address it lists too gives the pod both.
    const pods = [
      ...inventory.endpoints.map((e) => {
        const ip6 = e.ips.find((ip) => ip.includes(":"));
        const node = placed(e.nodeName, `endpoint ${e.namespace}/${e.name}`);
        return { name: e.name, ip: e.ips[0]!, ...(ip6 !== undefined ? { ip6 } : {}), ...(node !== undefined ? { node } : {}) };
      }),
      ...(this.opts.extraPods ?? []),
    ];
    this.topo = await createTopology({ tag: this.tag, pods, nodes: nodeNames.map((name) => ({ name })) });
    this.#nodes = this.topo.nodes.map((n) => ({ name: n.name, netns: n.netns, proxy: null, log: "" }));
    try {
      for (const s of this.opts.servers) {
        const child = spawnIn(this.topo.pod(s.pod).netns, process.execPath, [join(REPO_ROOT, "dist", s.script), ...s.args]);
        this.#servers.push(child);
        await waitForOutput(child, /listening/);
      }
      // kube-proxy runs on every node.
      for (const svc of this.opts.services ?? []) for (const n of this.#nodes) await this.#installService(svc, n.netns);
      this.policyDir = await mkdtemp(join(tmpdir(), `l7proxy-${this.tag}-`));
      if (opts.proxy !== false) for (const n of this.#nodes) await this.startProxy([], n.name);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  #node(name?: string): NodeRuntime {
    const n = name === undefined ? this.#nodes[0] : this.#nodes.find((x) => x.name === name);
    if (n === undefined) throw new Error(name === undefined ? "the cluster is not started" : `no node ${name} in cluster ${this.tag}`);
    return n;
  }

  /** The network namespace of a node (default the first). */
  nodeNetns(node?: string): string {
    return this.#node(node).netns;
  }

  // kube-proxy stand-in: the VIP is DNATed on the node to the backends in turn.
  async #installService(svc: ServiceSpec, netns: string): Promise<void> {
    const map = svc.backends.map((ip, i) => `${i} : ${ip}`).join(", ");
    const table = `${this.tag}svc${svc.vip.replace(/\./g, "")}`;
    const script = `table ip ${table} {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${svc.vip} tcp dport ${svc.port} dnat to numgen inc mod ${svc.backends.length} map { ${map} } : ${svc.targetPort}
  }
}
`;
    await runIn(netns, "nft", ["-f", "-"], { input: script });
  }

  #spawnProxy(n: NodeRuntime, extraArgs: string[]): ChildProcess {
    const source = this.opts.policySource ?? "files";
    const nodeArgs = this.opts.nodes !== undefined && source === "files" ? ["--node-name", n.name] : [];
    const sourceArgs =
      source === "files"
        ? ["--policies", this.policyDir, "--endpoints", this.opts.endpointsFile, ...nodeArgs]
        : ["--kubernetes", "--node-name", source.kubernetes.nodeName];
    const env = source === "files" ? process.env : { ...process.env, KUBECONFIG: source.kubernetes.kubeconfig };
    const child = spawnIn(
      n.netns,
      process.execPath,
      [...(this.opts.proxyNodeArgs ?? []), CLI, "run", ...sourceArgs, "--admin", `127.0.0.1:${this.adminPort}`, "--log-level", "info", ...(this.opts.proxyArgs ?? []), ...extraArgs],
      { env },
    );
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (n.log += d));
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (n.log += d));
    return child;
  }

  async startProxy(extraArgs: string[] = [], node?: string): Promise<void> {
    const n = this.#node(node);
    n.log = "";
    n.proxy = this.#spawnProxy(n, extraArgs);
    await this.waitReady(20_000, n.name);
  }

  /**
   * A rolling restart as a DaemonSet update with maxSurge does it: start a new proxy beside the
   * running one (they share the ports with SO_REUSEPORT), wait until it is ready, then stop
   * the old one with SIGTERM so it drains. Resolves with the old process's exit code.
   */
  async restartProxy(node?: string): Promise<number | null> {
    const n = this.#node(node);
    const old = n.proxy;
    const next = this.#spawnProxy(n, []);
    await waitForOutput(next, /"msg":"l7proxy ready"/, 20_000);
    n.proxy = next;
    if (old === null || old.exitCode !== null) return old?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => old.once("exit", (code) => r(code)));
    old.kill("SIGTERM");
    return exited;
  }

  /** SIGTERM: the proxy drains and exits; its interception rules stay (fail closed). */
  async stopProxy(node?: string): Promise<number | null> {
    const p = this.#node(node).proxy;
    if (p === null || p.exitCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
    p.kill("SIGTERM");
    const code = await Promise.race([exited, sleep(15_000).then(() => null)]);
    if (p.exitCode === null) p.kill("SIGKILL");
    return code;
  }

  async admin(path: string, node?: string): Promise<{ status: number; body: string }> {
    const r = await runIn(this.#node(node).netns, "curl", ["-s", "-m", "2", "-w", "\n%{http_code}", `http://127.0.0.1:${this.adminPort}${path}`], {
      allowFail: true,
    });
    const idx = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(idx + 1)) || 0, body: r.stdout.slice(0, idx) };
  }

  async waitReady(timeoutMs = 20_000, node?: string): Promise<void> {
    const n = this.#node(node);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (n.proxy?.exitCode !== null && n.proxy?.exitCode !== undefined) {
        throw new Error(`l7proxy on ${n.name} exited (${n.proxy.exitCode}):\n${n.log}`);
      }
      if ((await this.admin("/readyz", n.name)).status === 200) return;
      await sleep(100);
    }
    throw new Error(`l7proxy on ${n.name} not ready after ${timeoutMs} ms:\n${n.log}`);
  }

  async revision(node?: string): Promise<number> {
    try {
      return (JSON.parse((await this.admin("/policy", node)).body) as { revision: number }).revision;
    } catch {
      return -1;
    }
  }

  /**
   * Replaces the applied policies with these files (paths) or inline documents
   * ({name, text}), and waits until every node's proxy that runs has loaded them.
   */
  async applyPolicies(policies: (string | { name: string; text: string })[]): Promise<void> {
    const running = this.#nodes.filter((n) => n.proxy !== null && n.proxy.exitCode === null);
    const before = await Promise.all(running.map((n) => this.revision(n.name)));
    for (const f of await readdir(this.policyDir)) await unlink(join(this.policyDir, f));
    for (const p of policies) {
      if (typeof p === "string") await copyFile(p, join(this.policyDir, basename(p)));
      else await writeFile(join(this.policyDir, p.name), p.text);
    }
    const deadline = Date.now() + 5000;
    const waiting = new Set(running.map((_, i) => i));
    while (Date.now() < deadline) {
      for (const i of [...waiting]) if ((await this.revision(running[i]!.name)) > before[i]!) waiting.delete(i);
      if (waiting.size === 0) return;
      await sleep(50);
    }
    throw new Error(`policies were not loaded within 5 s:\n${[...waiting].map((i) => running[i]!.log).join("\n")}`);
  }

  /** curl from a pod; `-w` appends the status so it can be told apart from the body. */
  async curl(pod: string, args: string[]): Promise<CurlResult> {
    const r = await runIn(this.topo.pod(pod).netns, "curl", ["-s", "-m", "3", ...args, "-w", "\n%{http_code}"], { allowFail: true });
    const idx = r.stdout.lastIndexOf("\n");
    return { ...r, status: Number(r.stdout.slice(idx + 1)) || 0, body: r.stdout.slice(0, idx) };
  }

  async stop(): Promise<void> {
    for (const n of this.#nodes) await this.stopProxy(n.name);
    for (const s of this.#servers) s.kill("SIGKILL");
    if (this.topo !== undefined) await this.topo.destroy();
    if (this.policyDir !== "") await rm(this.policyDir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function waitForOutput(child: ChildProcess, re: RegExp, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${seen}`)), timeoutMs);
    const onData = (d: string): void => {
      seen += d;
      if (re.test(seen)) {
        clearTimeout(timer);
        resolvePromise();
      }
    };
    child.stdout?.setEncoding("utf8").on("data", onData);
    child.stderr?.setEncoding("utf8").on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before ${re}: ${seen}`));
    });
  });
}
