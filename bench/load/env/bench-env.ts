// The benchmark's world, built fresh for each run and torn down after it:
//
//   client netns (wrk / open-loop)  ==veth==  node netns  ==veth==  upstream netns (nginx :80)
//                                       TPROXY -> l7proxy or HAProxy (both transparent),
//                                       or no rules at all ("direct": plain forwarding)
//
//   loopback netns: client -> 127.0.0.1:PORT (plain listener) -> nginx 127.0.0.2:80
//                   (no interception, no veth: the proxy's own cost)
//
// l7proxy and HAProxy both listen transparently all the time, each on its own port; the one
// being measured is the one the interception rules point at. The rules are the ones l7proxy
// installs itself (src/intercept, same InterceptSpec), re-rendered with the measured
// target's port. Switching is one atomic nft transaction, so targets can alternate
// request-for-request-identical rounds (A B A B) without restarting anything.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RUN_OPTIONS } from "../../../src/config/run-config.js";
import { installRules, uninstallRules, type InterceptSpec } from "../../../src/intercept/rules.js";
import { run, runIn } from "../../../src/netns/exec.js";
import { createTopology, type Topology } from "../../../src/netns/topology.js";
import { loadEndpointsFile } from "../../../src/policy/endpoints/load-endpoints.js";
import { loadPolicyPaths } from "../../../src/policy/load/index.js";
import { renderHaproxyConfig } from "../haproxy/haproxy-config.js";
import { portPolicyFor } from "../haproxy/port-policy.js";
import { UPSTREAM_PORT, writePolicyFiles, type PolicyFiles } from "../policy-fixture.js";
import { repoPath } from "../repo-root.js";
import { ManagedProcess, waitUntil } from "./managed-process.js";
import { prepareNginx } from "./upstream-nginx.js";

export const TARGETS = [
  "direct",
  "l7proxy",
  "haproxy",
  "direct-lo",
  "l7proxy-lo",
  "haproxy-lo",
  "l7proxy-notel",
  "l7proxy-info",
  "l7proxy-lo-notel",
  "l7proxy-lo-info",
  "l7proxy-workers",
  "haproxy-threads",
] as const;
export type TargetName = (typeof TARGETS)[number];
type L7proxyTarget = "l7proxy" | "l7proxy-lo" | "l7proxy-notel" | "l7proxy-info" | "l7proxy-lo-notel" | "l7proxy-lo-info" | "l7proxy-workers";

/** `l7proxy --workers N` and HAProxy `nbthread N`, measured by the scaling scenario only (unpinned: they need every core). */
export function isScaling(t: TargetName): boolean {
  return t === "l7proxy-workers" || t === "haproxy-threads";
}

export function isLoopback(t: TargetName): boolean {
  return t.endsWith("-lo") || t.includes("-lo-");
}

/**
 * l7proxy with its telemetry changed, measured only by the telemetry scenario: `-notel` runs
 * with --no-telemetry, `-info` at the default log level (every sampled flow record also
 * written to stderr); plain `l7proxy` keeps metrics and the /flows ring at --log-level warn.
 */
export function telemetryVariant(t: TargetName): "notel" | "info" | null {
  return t.endsWith("-notel") ? "notel" : t.endsWith("-info") ? "info" : null;
}

function isL7proxy(t: TargetName): t is L7proxyTarget {
  return t.startsWith("l7proxy");
}

/** Where a load generator must run and connect to reach a target. */
export interface TargetAddress {
  netns: string;
  host: string;
  port: number;
  /** Process whose CPU and memory are the target's cost (null for direct). */
  pid: number | null;
}

export interface EnvOptions {
  tag: string;
  /** CPU list for the proxy under test. */
  proxyCpus: string | null;
  /** CPU list for the load generator and the upstream. */
  clientCpus: string | null;
  targets: readonly TargetName[];
  /** Node.js flags for every l7proxy target (--trace-gc, --cpu-prof...); their stderr then goes to a file in logDir. */
  l7proxyNodeArgs?: readonly string[];
  /** Where l7proxy targets started with node flags write stderr (kept after the run). */
  logDir?: string;
  /** N of the scaling targets (l7proxy --workers N, HAProxy nbthread N). */
  scaleN?: number;
}

const CLIENT_IP = "10.77.0.2";
const UPSTREAM_IP = "10.77.0.3";
const NODE_IP = "10.77.255.1";
const LO_CLIENT_IP = "127.0.0.1";
const LO_UPSTREAM_IP = "127.0.0.2";
const PORTS = {
  l7proxy: 15001,
  haproxy: 15002,
  "l7proxy-notel": 15003,
  "l7proxy-info": 15004,
  "l7proxy-lo": 15011,
  "haproxy-lo": 15012,
  "l7proxy-lo-notel": 15013,
  "l7proxy-lo-info": 15014,
  "l7proxy-workers": 15005,
  "haproxy-threads": 15006,
} as const;
const ADMIN = {
  l7proxy: 9901,
  "l7proxy-lo": 9902,
  "l7proxy-notel": 9903,
  "l7proxy-info": 9904,
  "l7proxy-lo-notel": 9905,
  "l7proxy-lo-info": 9906,
  "l7proxy-workers": 9907,
} as const;

/** Whether `l7proxy run` has a plain (non-transparent) listener with a fixed upstream. */
export function l7proxyHasUpstreamOption(): boolean {
  return Object.prototype.hasOwnProperty.call(RUN_OPTIONS, "upstream");
}

export class BenchEnv {
  topo!: Topology;
  loNetns = "";
  dir = "";
  ruleCount = 0;
  #nginx: ManagedProcess[] = [];
  #proxies = new Map<TargetName, ManagedProcess>();
  #active: TargetName | null = null;
  #loCreated = false;
  #starts = 0;

  constructor(readonly opts: EnvOptions) {}

  /** Every namespace of the topology (for kernel counters). */
  get namespaces(): string[] {
    const all = [this.topo.nodeNetns, this.clientNetns, this.topo.pod("up").netns];
    return this.loNetns === "" ? all : [...all, this.loNetns];
  }

  get clientNetns(): string {
    return this.topo.pod("client").netns;
  }

  async setup(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), "l7proxy-bench-"));
    this.topo = await createTopology({
      tag: this.opts.tag,
      nodeIp: NODE_IP,
      pods: [
        { name: "client", ip: CLIENT_IP },
        { name: "up", ip: UPSTREAM_IP },
      ],
    });
    // Bursts of 1,000 new connections must not overflow the accept queues.
    for (const ns of [this.topo.nodeNetns, this.clientNetns, this.topo.pod("up").netns]) {
      await runIn(ns, "sysctl", ["-qw", "net.core.somaxconn=65535", "net.ipv4.tcp_max_syn_backlog=65535"], { allowFail: true });
    }
    this.#nginx.push(await this.#startNginx(this.topo.pod("up").netns, `${UPSTREAM_IP}:${UPSTREAM_PORT}`));
    if (this.opts.targets.some(isLoopback)) {
      this.loNetns = `${this.opts.tag}-lo`;
      await run("ip", ["netns", "add", this.loNetns]);
      this.#loCreated = true;
      await runIn(this.loNetns, "ip", ["link", "set", "lo", "up"]);
      await runIn(this.loNetns, "sysctl", ["-qw", "net.core.somaxconn=65535"], { allowFail: true });
      this.#nginx.push(await this.#startNginx(this.loNetns, `${LO_UPSTREAM_IP}:${UPSTREAM_PORT}`));
    }
  }

  async #startNginx(netns: string, listen: string): Promise<ManagedProcess> {
    const conf = await prepareNginx(this.dir, listen);
    const p = new ManagedProcess({ name: `nginx ${listen}`, netns, cpus: this.opts.clientCpus, argv: ["nginx", "-e", "stderr", "-c", conf] });
    const [host, port] = listen.split(":") as [string, string];
    await waitUntil(p, () => listening(netns, host, Number(port)), 10_000);
    return p;
  }

  interceptSpec(port: number): InterceptSpec {
    return {
      backend: "nft",
      table: "l7bench",
      proxyPort: port,
      mark: 0x7e57,
      routeTable: 157,
      ingressIps: [UPSTREAM_IP],
      egressIps: [],
    };
  }

  #files: { tproxy: PolicyFiles; lo: PolicyFiles } | null = null;

  /** (Re)starts every proxy target with a policy of `ruleCount` HTTP rules. */
  async loadRuleCount(ruleCount: number): Promise<void> {
    await this.#stopProxies();
    this.ruleCount = ruleCount;
    this.#files = {
      tproxy: await writePolicyFiles(this.dir, ruleCount, CLIENT_IP, UPSTREAM_IP),
      lo: await writePolicyFiles(this.dir, ruleCount, LO_CLIENT_IP, LO_UPSTREAM_IP),
    };
    for (const t of this.opts.targets) await this.#startTarget(t);
  }

  /** Stops one proxy target and starts a fresh process of it, with the same policy. */
  async restart(t: TargetName): Promise<void> {
    const p = this.#proxies.get(t);
    if (p === undefined) return;
    await p.stop();
    this.#proxies.delete(t);
    await this.#startTarget(t);
  }

  async #startTarget(t: TargetName): Promise<void> {
    if (this.#files === null) throw new Error("no policy loaded: call loadRuleCount first");
    const { tproxy: files, lo: loFiles } = this.#files;
    if (isL7proxy(t) && !isLoopback(t)) await this.#startL7proxy(t, this.topo.nodeNetns, files, []);
    if (isL7proxy(t) && isLoopback(t)) {
      const upstream = ["--upstream", `${LO_UPSTREAM_IP}:${UPSTREAM_PORT}`, "--proxy-host", "127.0.0.1"];
      await this.#startL7proxy(t, this.loNetns, loFiles, upstream);
    }
    if (t === "haproxy") await this.#startHaproxy(t, this.topo.nodeNetns, files, `:${PORTS.haproxy} transparent`, "0.0.0.0:0");
    if (t === "haproxy-threads") await this.#startHaproxy(t, this.topo.nodeNetns, files, `:${PORTS[t]} transparent`, "0.0.0.0:0");
    if (t === "haproxy-lo") {
      await this.#startHaproxy(t, this.loNetns, loFiles, `127.0.0.1:${PORTS["haproxy-lo"]}`, `${LO_UPSTREAM_IP}:${UPSTREAM_PORT}`);
    }
  }

  async #startL7proxy(t: L7proxyTarget, netns: string, files: PolicyFiles, extra: string[]): Promise<void> {
    const admin = ADMIN[t];
    const p = new ManagedProcess({
      name: t,
      netns,
      cpus: isScaling(t) ? null : this.opts.proxyCpus,
      argv: [
        process.execPath,
        ...(this.opts.l7proxyNodeArgs ?? []),
        repoPath("dist", "cli", "main.js"),
        "run",
        "--policies",
        files.policyDir,
        "--endpoints",
        files.endpointsFile,
        "--proxy-port",
        String(PORTS[t]),
        "--admin",
        `127.0.0.1:${admin}`,
        // The benchmark points the (identical) rules at whichever target it measures.
        "--no-install-rules",
        ...l7proxyTelemetryArgs(t),
        ...(t === "l7proxy-workers" ? ["--workers", String(this.opts.scaleN ?? 2)] : []),
        ...extra,
      ],
      // Its flow-record lines go to a file, as a container runtime's log collector would take
      // them, not through the benchmark process (see ManagedProcess.stderrFile).
      ...(telemetryVariant(t) === "info" ? { stderrFile: join(this.dir, `${t}-${this.ruleCount}.stderr`) } : {}),
      ...((this.opts.l7proxyNodeArgs ?? []).length > 0 ? { stderrFile: join(this.opts.logDir ?? this.dir, `${t}-${this.ruleCount}-${this.#starts++}.stderr`), cwd: this.opts.logDir ?? this.dir } : {}),
    });
    this.#proxies.set(t, p);
    await waitUntil(p, async () => (await runIn(netns, "curl", ["-sf", "-m", "1", `http://127.0.0.1:${admin}/readyz`], { allowFail: true })).code === 0, 60_000);
  }

  async #startHaproxy(t: "haproxy" | "haproxy-lo" | "haproxy-threads", netns: string, files: PolicyFiles, bind: string, server: string): Promise<void> {
    const loaded = await loadPolicyPaths([files.policyDir]);
    if (loaded.policies.length === 0) throw new Error(`benchmark policy did not load: ${JSON.stringify(loaded.diagnostics)}`);
    const inventory = await loadEndpointsFile(files.endpointsFile);
    const rendered = renderHaproxyConfig(portPolicyFor(loaded.policies, inventory, "bench-upstream", UPSTREAM_PORT), {
      bind,
      server,
      patternDir: join(this.dir, `${t}-patterns-${this.ruleCount}`),
      threads: t === "haproxy-threads" ? (this.opts.scaleN ?? 2) : 1,
    });
    await run("mkdir", ["-p", join(this.dir, `${t}-patterns-${this.ruleCount}`)]);
    for (const f of rendered.files) await writeFile(f.path, f.content);
    const cfg = join(this.dir, `${t}-${this.ruleCount}.cfg`);
    await writeFile(cfg, rendered.config);
    const p = new ManagedProcess({ name: t, netns, cpus: isScaling(t) ? null : this.opts.proxyCpus, argv: ["haproxy", "-db", "-f", cfg] });
    this.#proxies.set(t, p);
    await waitUntil(p, () => listening(netns, t === "haproxy-lo" ? "127.0.0.1" : "0.0.0.0", PORTS[t]), 30_000);
  }

  /** Points the interception at `t` (or removes it for direct) and says where to send load. */
  async activate(t: TargetName): Promise<TargetAddress> {
    if (!isLoopback(t) && this.#active !== t) {
      if (t === "direct") await uninstallRules(this.interceptSpec(PORTS.l7proxy), { netns: this.topo.nodeNetns });
      else await installRules(this.interceptSpec(PORTS[t as "l7proxy" | "haproxy" | "l7proxy-notel" | "l7proxy-info" | "l7proxy-workers" | "haproxy-threads"]), { netns: this.topo.nodeNetns });
      this.#active = t;
    }
    const proc = this.#proxies.get(t);
    if (proc !== undefined && proc.exited) throw new Error(proc.describeExit());
    const pid = proc?.pid ?? null;
    if (!isLoopback(t)) return { netns: this.clientNetns, host: UPSTREAM_IP, port: UPSTREAM_PORT, pid };
    if (t === "direct-lo" || t === "direct") return { netns: this.loNetns, host: LO_UPSTREAM_IP, port: UPSTREAM_PORT, pid };
    return { netns: this.loNetns, host: "127.0.0.1", port: PORTS[t], pid };
  }

  async #stopProxies(): Promise<void> {
    for (const p of this.#proxies.values()) await p.stop();
    this.#proxies.clear();
  }

  async teardown(): Promise<void> {
    await this.#stopProxies();
    for (const n of this.#nginx) await n.stop();
    if (this.topo !== undefined) {
      await uninstallRules(this.interceptSpec(PORTS.l7proxy), { netns: this.topo.nodeNetns }).catch(() => undefined);
      await this.topo.destroy();
    }
    if (this.#loCreated) await run("ip", ["netns", "del", this.loNetns], { allowFail: true });
    if (this.dir !== "") await rm(this.dir, { recursive: true, force: true });
  }
}

/** `l7proxy run` arguments that set a target's telemetry (see telemetryVariant). */
export function l7proxyTelemetryArgs(t: TargetName): string[] {
  const variant = telemetryVariant(t);
  if (variant === "notel") return ["--no-telemetry", "--log-level", "warn"];
  if (variant === "info") return ["--log-level", "info"];
  return ["--log-level", "warn"];
}

async function listening(netns: string, host: string, port: number): Promise<boolean> {
  const r = await runIn(netns, "ss", ["-Hltn", `sport = :${port}`], { allowFail: true });
  return r.stdout.split("\n").some((l) => l.includes(`${host === "0.0.0.0" ? "" : host}:${port}`));
}
