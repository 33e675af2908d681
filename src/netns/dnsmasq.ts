// dnsmasq as a resolver in a pod's namespace (the DNS end-to-end tests, `l7proxy demo dns`),
// logging every query it gets with the client's address (--log-queries to stderr), so a test
// can tell whether the proxy forwarded a query from the pod's own address or from the node's.

import type { ChildProcess } from "node:child_process";
import { spawnIn } from "./exec.js";

export interface DnsmasqQuery {
  type: string;
  name: string;
  from: string;
}

// "dnsmasq[123]: query[A] api.example.com from 10.206.0.10"
const QUERY = /query\[([A-Z0-9]+)\] (\S+) from (\S+)/;

export class Dnsmasq {
  readonly queries: DnsmasqQuery[] = [];
  #log = "";

  private constructor(readonly child: ChildProcess) {}

  /** Starts dnsmasq on `listen` (one address per --listen-address) port 53 and waits until it serves. */
  static async start(netns: string, listen: string[], records: string[]): Promise<Dnsmasq> {
    const args = [
      "-k", "-p", "53", ...listen.map((a) => `--listen-address=${a}`), "--bind-interfaces", "--no-resolv", "--no-hosts",
      "--log-queries", "--log-facility=-", ...records,
    ];
    const d = new Dnsmasq(spawnIn(netns, "dnsmasq", args));
    await new Promise<void>((resolve, reject) => {
      let buffered = "";
      const timer = setTimeout(() => reject(new Error(`dnsmasq did not start: ${d.#log}`)), 10_000);
      d.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
        d.#log += chunk;
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (/started, version/.test(line)) {
            clearTimeout(timer);
            resolve();
          }
          const m = QUERY.exec(line);
          if (m !== null) d.queries.push({ type: m[1]!, name: m[2]!, from: m[3]! });
        }
      });
      d.child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`dnsmasq exited (${code}): ${d.#log}`));
      });
    });
    return d;
  }

  /** The client addresses dnsmasq saw asking for `name` (as dig writes it, without the trailing dot). */
  clientsOf(name: string): string[] {
    return this.queries.filter((q) => q.name === name).map((q) => q.from);
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.child.kill(signal);
  }
}
