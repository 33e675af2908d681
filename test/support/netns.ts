// Test extras on top of the network-namespace topology in src/netns (the one the demo and
// the benchmark use): processes started in a namespace are stopped with the topology, an
// HTTP server that reports every connection and request as JSON lines, and curl from a pod.
// Pods are seen here as { name, ns, ip, ip6 }.

import type { ChildProcess } from "node:child_process";
import { type CommandResult, runIn, spawnIn } from "../../src/netns/exec.js";
import { type Topology, type TopologyOptions, createTopology } from "../../src/netns/topology.js";
import { JsonLines } from "./json-lines.js";

export interface PodHandle {
  name: string;
  /** The pod's network namespace. */
  ns: string;
  ip: string;
  ip6?: string;
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

export class TestTopology {
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(readonly topology: Topology) {}

  /** Builds the namespaces and links (src/netns/topology.ts); on failure removes them. */
  static async create(options: TopologyOptions): Promise<TestTopology> {
    return new TestTopology(await createTopology(options));
  }

  get nodeNs(): string {
    return this.topology.nodeNetns;
  }

  get nodeIp(): string {
    return this.topology.nodeIp;
  }

  get nodeIp6(): string {
    return this.topology.nodeIp6;
  }

  pod(name: string): PodHandle {
    const { ip, ip6, netns } = this.topology.pod(name);
    return { name, ns: netns, ip, ...(ip6 !== undefined ? { ip6 } : {}) };
  }

  /** Runs a command in a namespace (node or pod namespace name) and returns its outcome. */
  async exec(ns: string, argv: string[], options: ExecOptions = {}): Promise<CommandResult> {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error("empty command");
    return runIn(ns, cmd, args, { ...options, allowFail: true });
  }

  /** Like exec, but throws with the command's stderr when it fails; resolves with its stdout. */
  async run(ns: string, argv: string[], options: ExecOptions = {}): Promise<string> {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error("empty command");
    return (await runIn(ns, cmd, args, options)).stdout;
  }

  /** Starts a long-running process in a namespace; destroy() stops it if still running. */
  spawn(ns: string, argv: string[], env: Record<string, string> = {}): ChildProcess {
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error("empty command");
    const child = spawnIn(ns, cmd, args, { env: { ...process.env, ...env } });
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
    return {
      pod,
      port,
      process: child,
      events,
      output,
      connections: () => events.filter((e): e is Extract<ServerEvent, { event: "connection" }> => e.event === "connection"),
      requests: () => events.filter((e): e is Extract<ServerEvent, { event: "request" }> => e.event === "request"),
      stop: () => stopChild(child),
    };
  }

  /**
   * `curl` from a pod. Exit codes worth knowing: 0 ok, 7 refused/reset at connect,
   * 28 timed out, 52 empty reply, 56 reset while receiving.
   */
  async curl(podName: string, url: string, extraArgs: string[] = [], timeoutSeconds = 3): Promise<CommandResult> {
    return this.exec(this.pod(podName).ns, ["curl", "-sS", "--max-time", String(timeoutSeconds), ...extraArgs, url], {
      timeoutMs: (timeoutSeconds + 5) * 1000,
    });
  }

  /** Stops the processes it started, then deletes every namespace (veths go with them). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.children].map((child) => stopChild(child)));
    await this.topology.destroy();
  }
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
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
