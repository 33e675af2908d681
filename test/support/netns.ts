// Network-namespace topologies for end-to-end tests: one "node" namespace (the router, where
// the proxy runs and the interception rules go) and one namespace per pod, each pod linked
// to the node by a veth pair, as a CNI would on a real node.
//
// Addressing follows the Calico style: a pod has its IP as a /32 on eth0 and a default route
// via the node's gateway address; the node has a /32 route to each pod through that pod's
// veth and the gateway address on every pod-facing veth. Pods therefore reach each other
// only through the node namespace, where prerouting (and so TPROXY) sees every packet.
//
// Every name carries the caller's tag, the process id and a counter, so parallel test files
// (and other helpers' runs) never collide; veths are created directly inside the namespaces,
// so no interface name ever touches the root namespace. destroy() deletes the namespaces,
// which takes their veths and any processes' sockets with them.

import { type ChildProcess, spawn } from "node:child_process";
import { execFile } from "node:child_process";
import net from "node:net";
import { createInterface } from "node:readline";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface PodSpec {
  /** Short name, letters/digits/dashes; used in the namespace name. */
  name: string;
  /** IPv4 address of the pod; defaults live in 10.200.0.0/16. */
  ip: string;
  /** Optional IPv6 address as well (fd00:200::/64 style ULA addresses suit tests). */
  ip6?: string;
}

export interface TopologyOptions {
  /** Short tag naming the test (1-5 letters or digits). */
  tag: string;
  pods: PodSpec[];
  /** Address of the node on every pod-facing veth, the pods' gateway. */
  nodeIp?: string;
  /** IPv6 gateway address, used when any pod has an ip6. */
  nodeIp6?: string;
}

export interface PodHandle {
  name: string;
  ns: string;
  ip: string;
  ip6?: string;
  /** The node-side end of the pod's veth (in the node namespace). */
  hostVeth: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  timeoutMs?: number;
}

/** What the test HTTP server writes to its stdout, one JSON object per line. */
export type ServerEvent =
  | { event: "listening"; port: number }
  | { event: "connection"; remoteAddress: string; remotePort: number; localAddress: string; localPort: number }
  | { event: "request"; method: string; url: string; headers: Record<string, string | string[]>; remoteAddress: string; bodyBytes: number };

export interface PodHttpServer {
  pod: PodHandle;
  port: number;
  process: ChildProcess;
  /** Everything the server reported so far (grows as it reports more). */
  events: ServerEvent[];
  output: JsonLines;
  connections(): Extract<ServerEvent, { event: "connection" }>[];
  requests(): Extract<ServerEvent, { event: "request" }>[];
  stop(): Promise<void>;
}

export const DEFAULT_NODE_IP = "10.200.255.254";
export const DEFAULT_NODE_IP6 = "fd00:200::fffe";

// One JSON line per connection and per request; the answer names the server and echoes what
// it saw, so tests can tell which backend answered and from which address.
const HTTP_SERVER_SCRIPT = `
const http = require("node:http");
const name = process.env.SERVER_NAME;
const port = Number(process.env.SERVER_PORT);
const log = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
// A dual-stack server reports IPv4 peers as ::ffff:a.b.c.d; tests compare plain addresses.
const plain = (a) => (typeof a === "string" && a.startsWith("::ffff:") ? a.slice(7) : a);
const server = http.createServer((req, res) => {
  let bodyBytes = 0;
  req.on("data", (c) => { bodyBytes += c.length; });
  req.on("end", () => {
    log({ event: "request", method: req.method, url: req.url, headers: req.headers, remoteAddress: plain(req.socket.remoteAddress), bodyBytes });
    const body = JSON.stringify({ server: name, method: req.method, url: req.url, remoteAddress: plain(req.socket.remoteAddress), localAddress: plain(req.socket.localAddress), localPort: req.socket.localPort, bodyBytes }) + "\\n";
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.on("connection", (s) => log({ event: "connection", remoteAddress: plain(s.remoteAddress), remotePort: s.remotePort, localAddress: plain(s.localAddress), localPort: s.localPort }));
server.listen(port, process.env.SERVER_HOST, () => log({ event: "listening", port }));
process.on("SIGTERM", () => { server.close(); server.closeAllConnections(); process.exit(0); });
`;

let sequence = 0;

export function netnsPrefix(tag: string): string {
  return `${tag}-${process.pid}-`;
}

export class Topology {
  readonly nodeNs: string;
  readonly nodeIp: string;
  readonly nodeIp6: string;
  readonly pods: ReadonlyMap<string, PodHandle>;
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(
    readonly base: string,
    nodeIp: string,
    nodeIp6: string,
    pods: Map<string, PodHandle>,
  ) {
    this.nodeNs = `${base}-node`;
    this.nodeIp = nodeIp;
    this.nodeIp6 = nodeIp6;
    this.pods = pods;
  }

  /** Builds the namespaces and links; on failure removes whatever it had created. */
  static async create(options: TopologyOptions): Promise<Topology> {
    if (!/^[a-z0-9]{1,5}$/.test(options.tag)) throw new Error(`tag "${options.tag}" must be 1-5 lowercase letters or digits`);
    const nodeIp = options.nodeIp ?? DEFAULT_NODE_IP;
    const seq = sequence++;
    const base = `${netnsPrefix(options.tag)}${seq}`;
    // Interface names are limited to 15 characters.
    const vethBase = `${options.tag}${process.pid.toString(36)}${seq.toString(36)}`;
    const pods = new Map<string, PodHandle>();
    options.pods.forEach((spec, index) => {
      if (!/^[a-z0-9-]{1,20}$/.test(spec.name)) throw new Error(`pod name "${spec.name}" must be 1-20 lowercase letters, digits or dashes`);
      if (!net.isIPv4(spec.ip)) throw new Error(`pod ${spec.name}: "${spec.ip}" is not an IPv4 address`);
      if (spec.ip6 !== undefined && !net.isIPv6(spec.ip6)) throw new Error(`pod ${spec.name}: "${spec.ip6}" is not an IPv6 address`);
      if (pods.has(spec.name)) throw new Error(`pod name "${spec.name}" is used twice`);
      const hostVeth = `${vethBase}h${index.toString(36)}`;
      if (hostVeth.length > 15) throw new Error(`interface name ${hostVeth} is longer than 15 characters`);
      pods.set(spec.name, {
        name: spec.name,
        ns: `${base}-${spec.name}`,
        ip: spec.ip,
        ...(spec.ip6 !== undefined ? { ip6: spec.ip6 } : {}),
        hostVeth,
      });
    });
    await removeStaleNamespaces(options.tag);
    const topology = new Topology(base, nodeIp, options.nodeIp6 ?? DEFAULT_NODE_IP6, pods);
    try {
      await topology.build();
    } catch (err) {
      await topology.destroy();
      throw err;
    }
    return topology;
  }

  pod(name: string): PodHandle {
    const pod = this.pods.get(name);
    if (!pod) throw new Error(`no pod named ${name} in topology ${this.base}`);
    return pod;
  }

  /** Runs a command in a namespace (node or pod namespace name) and returns its outcome. */
  async exec(ns: string, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    return execIn(ns, argv, options);
  }

  /** Like exec, but throws with the command's stderr when it fails. */
  async run(ns: string, argv: string[], options: ExecOptions = {}): Promise<string> {
    const result = await execIn(ns, argv, options);
    if (result.code !== 0) throw new Error(`${argv.join(" ")} in ${ns} failed (${result.code}): ${result.stderr.trim()}`);
    return result.stdout;
  }

  /** Starts a long-running process in a namespace; destroy() kills it if still running. */
  spawn(ns: string, argv: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    this.children.add(child);
    child.on("exit", () => this.children.delete(child));
    return child;
  }

  /** Starts an HTTP server (node:http) in a pod, answering JSON that names it and echoes the request. */
  async startHttpServer(podName: string, options: { port?: number; name?: string } = {}): Promise<PodHttpServer> {
    const pod = this.pod(podName);
    const port = options.port ?? 80;
    const child = this.spawn(pod.ns, [process.execPath, "-e", HTTP_SERVER_SCRIPT], {
      SERVER_NAME: options.name ?? pod.name,
      SERVER_PORT: String(port),
      // "::" accepts IPv4 too (dual stack); only pods with an IPv6 address need it.
      SERVER_HOST: pod.ip6 !== undefined ? "::" : "0.0.0.0",
    });
    const output = new JsonLines(child);
    const events = output.lines as ServerEvent[];
    await output.waitFor((line) => (line as ServerEvent).event === "listening");
    const stop = async (): Promise<void> => stopChild(child);
    return {
      pod,
      port,
      process: child,
      events,
      output,
      connections: () => events.filter((e): e is Extract<ServerEvent, { event: "connection" }> => e.event === "connection"),
      requests: () => events.filter((e): e is Extract<ServerEvent, { event: "request" }> => e.event === "request"),
      stop,
    };
  }

  /**
   * `curl` from a pod. Exit codes worth knowing: 0 ok, 7 refused/reset at connect,
   * 28 timed out, 52 empty reply, 56 reset while receiving.
   */
  async curl(podName: string, url: string, extraArgs: string[] = [], timeoutSeconds = 3): Promise<ExecResult> {
    return this.exec(this.pod(podName).ns, ["curl", "-sS", "--max-time", String(timeoutSeconds), ...extraArgs, url], {
      timeoutMs: (timeoutSeconds + 5) * 1000,
    });
  }

  /** Kills the processes it started and deletes every namespace (veths go with them). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.children].map((child) => stopChild(child)));
    for (const ns of [...[...this.pods.values()].map((p) => p.ns), this.nodeNs]) {
      await execFileAsync("ip", ["netns", "delete", ns]).catch(() => undefined);
    }
  }

  private async build(): Promise<void> {
    const node = this.nodeNs;
    await ip(["netns", "add", node]);
    await ip(["-n", node, "link", "set", "lo", "up"]);
    await this.run(node, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    const anyIp6 = [...this.pods.values()].some((pod) => pod.ip6 !== undefined);
    if (anyIp6) await this.run(node, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    for (const pod of this.pods.values()) {
      await ip(["netns", "add", pod.ns]);
      await ip(["-n", pod.ns, "link", "set", "lo", "up"]);
      await ip(["-n", node, "link", "add", pod.hostVeth, "type", "veth", "peer", "name", "eth0", "netns", pod.ns]);
      await ip(["-n", node, "addr", "add", `${this.nodeIp}/32`, "dev", pod.hostVeth]);
      await ip(["-n", node, "link", "set", pod.hostVeth, "up"]);
      await ip(["-n", node, "route", "add", `${pod.ip}/32`, "dev", pod.hostVeth]);
      await ip(["-n", pod.ns, "addr", "add", `${pod.ip}/32`, "dev", "eth0"]);
      await ip(["-n", pod.ns, "link", "set", "eth0", "up"]);
      await ip(["-n", pod.ns, "route", "add", `${this.nodeIp}/32`, "dev", "eth0", "scope", "link"]);
      await ip(["-n", pod.ns, "route", "add", "default", "via", this.nodeIp, "dev", "eth0"]);
      if (pod.ip6 !== undefined) {
        // nodad: usable at once, without waiting for duplicate address detection.
        await ip(["-n", node, "-6", "addr", "add", `${this.nodeIp6}/128`, "dev", pod.hostVeth, "nodad"]);
        await ip(["-n", node, "-6", "route", "add", `${pod.ip6}/128`, "dev", pod.hostVeth]);
        await ip(["-n", pod.ns, "-6", "addr", "add", `${pod.ip6}/128`, "dev", "eth0", "nodad"]);
        await ip(["-n", pod.ns, "-6", "route", "add", `${this.nodeIp6}/128`, "dev", "eth0"]);
        await ip(["-n", pod.ns, "-6", "route", "add", "default", "via", this.nodeIp6, "dev", "eth0"]);
      }
    }
  }
}

export function createTopology(options: TopologyOptions): Promise<Topology> {
  return Topology.create(options);
}

/** Why network-namespace tests cannot run here, or null when they can. */
export function netnsUnavailableReason(): string | null {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "network namespaces, nftables and IP_TRANSPARENT need root";
  return null;
}

/**
 * Tests that need namespaces run under CI=true whatever happens (a missing privilege must fail
 * there, not hide); elsewhere they skip, saying why on stderr.
 */
export function shouldRunNetnsTests(suite: string): boolean {
  if (process.env["CI"] === "true") return true;
  const reason = netnsUnavailableReason();
  if (reason !== null) process.stderr.write(`SKIPPED ${suite}: ${reason} (set CI=true to force)\n`);
  return reason === null;
}

export async function execIn(ns: string, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      stdio: ["pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 30_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/**
 * Collects every JSON line a child writes to stdout (other lines are ignored) and lets a
 * test wait for one that matches. Attach it right after spawning, before output can be lost.
 */
export class JsonLines {
  readonly lines: unknown[] = [];
  private stderr = "";
  private exited: number | null | undefined = undefined;
  private readonly waiters = new Set<() => void>();

  constructor(child: ChildProcess) {
    child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: child.stdout! }).on("line", (text) => {
      try {
        this.lines.push(JSON.parse(text));
      } catch {
        return;
      }
      for (const wake of this.waiters) wake();
    });
    child.on("exit", (code) => {
      this.exited = code;
      for (const wake of this.waiters) wake();
    });
  }

  /** Resolves with the first line (seen so far or later) that `accept` approves. */
  waitFor(accept: (line: unknown) => boolean, timeoutMs = 10_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.lines.find(accept);
        if (found !== undefined) {
          done(null, found);
          return true;
        }
        if (this.exited !== undefined) {
          done(new Error(`process exited (${this.exited}) before the expected line; stderr: ${this.stderr}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => done(new Error(`no expected line within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      const wake = (): void => void check();
      const done = (error: Error | null, value?: unknown): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        if (error) reject(error);
        else resolve(value);
      };
      if (!check()) this.waiters.add(wake);
    });
  }

  get errorOutput(): string {
    return this.stderr;
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function ip(args: string[]): Promise<void> {
  try {
    await execFileAsync("ip", args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`ip ${args.join(" ")} failed: ${stderr.trim() || (err as Error).message}`);
  }
}

// Namespaces left by a run that was killed before its cleanup (same tag, process gone).
async function removeStaleNamespaces(tag: string): Promise<void> {
  const { stdout } = await execFileAsync("ip", ["netns", "list"]).catch(() => ({ stdout: "" }));
  const pattern = new RegExp(`^${tag}-(\\d+)-\\d+-`);
  for (const line of stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const match = pattern.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    await execFileAsync("ip", ["netns", "delete", name]).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
