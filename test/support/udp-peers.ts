// UDP servers and clients inside network namespaces, for the non-TCP end-to-end tests. The
// server records every datagram it receives (so a test can tell "dropped on the way" from
// "received but not answered") and echoes it back; the client sends one datagram and waits
// for the echo. Both are small Node programs run with `node -e` in the namespace.

import type { ChildProcess } from "node:child_process";
import { runIn, spawnIn } from "../../src/netns/exec.js";

const SERVER = `
import dgram from "node:dgram";
const ports = process.argv.slice(1).map(Number);
let bound = 0;
for (const port of ports) {
  const s = dgram.createSocket("udp4");
  s.on("message", (msg, rinfo) => {
    process.stdout.write(JSON.stringify({ port, from: rinfo.address, data: msg.toString() }) + "\\n");
    s.send("echo:" + msg.toString(), rinfo.port, rinfo.address);
  });
  s.bind(port, "0.0.0.0", () => { if (++bound === ports.length) process.stdout.write("listening\\n"); });
}
`;

const CLIENT = `
import dgram from "node:dgram";
const [host, port, payload, srcPort, timeoutMs] = process.argv.slice(1);
const s = dgram.createSocket({ type: "udp4", reuseAddr: true });
const done = (text) => { process.stdout.write(text + "\\n"); s.close(); };
const timer = setTimeout(() => done("TIMEOUT"), Number(timeoutMs));
s.on("message", (msg) => { clearTimeout(timer); done("ECHO " + msg.toString()); });
s.bind(Number(srcPort), () => s.send(payload, Number(port), host));
`;

export interface Received {
  port: number;
  from: string;
  data: string;
}

export class UdpEchoServer {
  readonly received: Received[] = [];
  private constructor(private readonly child: ChildProcess) {}

  static async start(netns: string, ports: number[]): Promise<UdpEchoServer> {
    const child = spawnIn(netns, process.execPath, ["--input-type=module", "-e", SERVER, ...ports.map(String)]);
    const server = new UdpEchoServer(child);
    await new Promise<void>((resolve, reject) => {
      let buffered = "";
      child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line === "listening") resolve();
          else if (line.startsWith("{")) server.received.push(JSON.parse(line) as Received);
        }
      });
      child.once("exit", (code) => reject(new Error(`UDP server exited (${code})`)));
    });
    return server;
  }

  /** Whether a datagram with this payload arrived. */
  got(data: string): boolean {
    return this.received.some((r) => r.data === data);
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}

/**
 * Sends one datagram from the namespace; resolves with the echo, or null when none came
 * within the timeout (default 3 s: a pod's first packet to an address waits for proxy ARP on
 * the node, which delays its answer up to 0.8 s at random).
 */
export async function udpExchange(
  netns: string,
  host: string,
  port: number,
  payload: string,
  opts: { srcPort?: number; timeoutMs?: number } = {},
): Promise<string | null> {
  const args = [host, String(port), payload, String(opts.srcPort ?? 0), String(opts.timeoutMs ?? 3000)];
  const r = await runIn(netns, process.execPath, ["--input-type=module", "-e", CLIENT, ...args]);
  const line = r.stdout.trim();
  return line.startsWith("ECHO ") ? line.slice(5) : null;
}

/** Two ICMP echo requests (the first may wait for proxy ARP); true when any was answered. */
export async function pingAnswered(netns: string, host: string): Promise<boolean> {
  return (await runIn(netns, "ping", ["-n", "-c", "2", "-i", "0.5", "-W", "2", host], { allowFail: true })).code === 0;
}
