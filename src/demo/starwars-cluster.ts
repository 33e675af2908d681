// The Star Wars demo as a small cluster in network namespaces: deathstar (two replicas
// behind a Service VIP that the node DNATs, as kube-proxy would), tiefighter, xwing, and a
// node namespace running `l7proxy run`. Used by `l7proxy demo` (which narrates) and by the
// end-to-end tests (which assert).

import { copyFile, mkdtemp, rm, readdir, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import { loadEndpointsFile } from "../policy/endpoints/load-endpoints.js";
import { run, runIn, spawnIn } from "../netns/exec.js";
import { createTopology, type Topology } from "../netns/topology.js";

const here = fileURLToPath(new URL(".", import.meta.url));
/** Repository root, whether running from src/ (tests) or dist/ (the CLI). */
export const REPO_ROOT = resolve(here, "../..");
export const STARWARS_DIR = join(REPO_ROOT, "proxy-config", "starwars");
const CLI = join(REPO_ROOT, "dist", "cli", "main.js");
const DEATHSTAR_SERVER = join(REPO_ROOT, "dist", "demo", "deathstar-server.js");

export const SERVICE_VIP = "10.96.0.10";
export const SERVICE_HOST = "deathstar.default.svc.cluster.local";

export interface ShotResult {
  /** curl's exit code: 0 on any HTTP answer; 7 refused, 28 timeout, 52/56 reset. */
  curlExit: number;
  status: number;
  body: string;
  servedBy: string;
}

export class StarWarsCluster {
  topo!: Topology;
  policyDir = "";
  adminPort = 9901;
  #proxy: ChildProcess | null = null;
  #servers: ChildProcess[] = [];
  proxyLog = "";

  constructor(readonly tag: string) {}

  async start(opts: { proxyArgs?: string[] } = {}): Promise<void> {
    const inventory = await loadEndpointsFile(join(STARWARS_DIR, "endpoints.yaml"));
    const pods = inventory.endpoints.map((e) => ({ name: e.name, ip: e.ips[0]! }));
    this.topo = await createTopology({ tag: this.tag, pods });
    try {
      for (const pod of pods.filter((p) => p.name.startsWith("deathstar"))) {
        const child = spawnIn(this.topo.pod(pod.name).netns, process.execPath, [DEATHSTAR_SERVER, "80", pod.name]);
        this.#servers.push(child);
        await waitForLine(child, /listening/);
      }
      await this.#installServiceVip(pods.filter((p) => p.name.startsWith("deathstar")).map((p) => p.ip));
      this.policyDir = await mkdtemp(join(tmpdir(), "l7proxy-demo-"));
      this.#proxy = spawnIn(this.topo.nodeNetns, process.execPath, [
        CLI,
        "run",
        "--policies",
        this.policyDir,
        "--endpoints",
        join(STARWARS_DIR, "endpoints.yaml"),
        "--admin",
        `127.0.0.1:${this.adminPort}`,
        "--log-level",
        "warn",
        ...(opts.proxyArgs ?? []),
      ]);
      this.#proxy.stderr?.setEncoding("utf8").on("data", (d: string) => (this.proxyLog += d));
      this.#proxy.stdout?.setEncoding("utf8").on("data", (d: string) => (this.proxyLog += d));
      await this.waitReady();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  // kube-proxy stand-in: the Service VIP is DNATed on the node to one of the replicas.
  async #installServiceVip(backends: string[]): Promise<void> {
    const map = backends.map((ip, i) => `${i} : ${ip}`).join(", ");
    const script = `table ip ${this.tag}svc {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${SERVICE_VIP} tcp dport 80 dnat to numgen inc mod ${backends.length} map { ${map} }
  }
}
`;
    await runIn(this.topo.nodeNetns, "nft", ["-f", "-"], { input: script });
  }

  async admin(path: string): Promise<{ status: number; body: string }> {
    const r = await runIn(this.topo.nodeNetns, "curl", ["-s", "-m", "2", "-w", "\n%{http_code}", `http://127.0.0.1:${this.adminPort}${path}`], {
      allowFail: true,
    });
    const idx = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(idx + 1)) || 0, body: r.stdout.slice(0, idx) };
  }

  async waitReady(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#proxy?.exitCode !== null && this.#proxy?.exitCode !== undefined) {
        throw new Error(`l7proxy exited (${this.#proxy.exitCode}):\n${this.proxyLog}`);
      }
      if ((await this.admin("/readyz")).status === 200) return;
      await sleep(100);
    }
    throw new Error(`l7proxy not ready after ${timeoutMs} ms:\n${this.proxyLog}`);
  }

  async revision(): Promise<number> {
    const r = await this.admin("/policy");
    try {
      return (JSON.parse(r.body) as { revision: number }).revision;
    } catch {
      return -1;
    }
  }

  /** Replaces the applied policy (null = none) and waits for the proxy to load it. */
  async applyPolicy(file: string | null): Promise<void> {
    const before = await this.revision();
    for (const f of await readdir(this.policyDir)) await unlink(join(this.policyDir, f));
    if (file !== null) await copyFile(join(STARWARS_DIR, file), join(this.policyDir, basename(file)));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if ((await this.revision()) > before) return;
      await sleep(50);
    }
    throw new Error(`policy ${file} was not loaded within 5 s:\n${this.proxyLog}`);
  }

  /** A ship calls the deathstar through its Service, like `kubectl exec SHIP -- curl ...`. */
  async shoot(ship: string, method: string, path: string, target = SERVICE_VIP): Promise<ShotResult> {
    const r = await runIn(
      this.topo.pod(ship).netns,
      "curl",
      ["-s", "-m", "3", "-X", method, "-H", `Host: ${SERVICE_HOST}`, "-w", "\n%{http_code} %header{x-served-by}", `http://${target}${path}`],
      { allowFail: true },
    );
    const idx = r.stdout.lastIndexOf("\n");
    const [status, servedBy] = r.stdout.slice(idx + 1).split(" ");
    return { curlExit: r.code, status: Number(status) || 0, body: r.stdout.slice(0, idx), servedBy: servedBy ?? "" };
  }

  /** Stops the proxy with SIGTERM (rules stay, fail closed), then removes rules and namespaces. */
  async stop(): Promise<void> {
    if (this.#proxy !== null && this.#proxy.exitCode === null) {
      const exited = new Promise((r) => this.#proxy!.once("exit", r));
      this.#proxy.kill("SIGTERM");
      await Promise.race([exited, sleep(5000)]);
      this.#proxy.kill("SIGKILL");
    }
    for (const s of this.#servers) s.kill("SIGKILL");
    if (this.topo !== undefined) {
      await runIn(this.topo.nodeNetns, process.execPath, [CLI, "rules", "uninstall"], { allowFail: true });
      await this.topo.destroy();
    }
    if (this.policyDir !== "") await rm(this.policyDir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function waitForLine(child: ChildProcess, re: RegExp, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${seen}`)), timeoutMs);
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      seen += d;
      if (re.test(seen)) {
        clearTimeout(timer);
        resolvePromise();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited (${code}) before ${re}: ${seen}`));
    });
  });
}

export { run };
