// Cilium's Kafka story as a small cluster in network namespaces: an empire Kafka broker
// (librdkafka's mock cluster, hosted by tools/kafka-mock-broker.c), empire-hq, two outposts
// and a backup, and `l7proxy run` on the node. Used by `l7proxy demo kafka` (which narrates)
// and by the end-to-end tests (which assert).
//
// The mock's brokers listen on 127.0.0.1:PORT and advertise that address, so each pod is
// wired to see the broker there: in the broker's namespace the broker pod's address, port
// 9092, is DNATed to the mock; in every client pod 127.0.0.1:PORT is DNATed to the broker
// pod's 9092 (and source-NATed to the pod's own address), so clients bootstrap at
// 127.0.0.1:PORT, follow the advertised address, and every connection crosses the node,
// where l7proxy intercepts it like any pod-to-pod connection.

import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { NetnsCluster, REPO_ROOT } from "../netns/cluster.js";
import { run, runIn, spawnIn, type CommandResult } from "../netns/exec.js";

export const KAFKA_DIR = join(REPO_ROOT, "proxy-config", "kafka");
export const BROKER_POD = "kafka-broker-0";
export const KAFKA_PORT = 9092;
export const TOPICS = ["deathstar-plans", "empire-announce"] as const;
const MOCK_SOURCE = join(REPO_ROOT, "tools", "kafka-mock-broker.c");
export const MOCK_BINARY = join(REPO_ROOT, "build", "kafka-mock-broker");

/** Builds the mock broker helper (gcc, librdkafka-dev) unless it is already built. */
export async function ensureMockBroker(): Promise<string> {
  try {
    await access(MOCK_BINARY);
    return MOCK_BINARY;
  } catch {
    await mkdir(join(REPO_ROOT, "build"), { recursive: true });
    await run("gcc", ["-O2", "-Wall", "-o", MOCK_BINARY, MOCK_SOURCE, "-lrdkafka"]);
    return MOCK_BINARY;
  }
}

export interface KcatResult extends CommandResult {
  /** kcat's messages (stdout lines). */
  lines: string[];
}

export class KafkaCluster extends NetnsCluster {
  #mock: ChildProcess | null = null;
  #policyOn = false;
  /** The address every pod uses for the broker (what the mock advertises). */
  bootstrap = "";

  constructor(tag: string, proxyArgs: string[] = [], proxyNodeArgs: string[] = []) {
    super(tag, { endpointsFile: join(KAFKA_DIR, "endpoints.yaml"), servers: [], proxyArgs, proxyNodeArgs });
  }

  override async start(opts: { proxy?: boolean } = {}): Promise<void> {
    const bin = await ensureMockBroker();
    await super.start({ proxy: false });
    try {
      await this.#startMock(bin);
      if (opts.proxy !== false) await this.startProxy();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async #startMock(bin: string): Promise<void> {
    const broker = this.topo.pod(BROKER_POD);
    const child = spawnIn(broker.netns, bin, TOPICS.flatMap((t) => ["-t", t]), { stdio: ["pipe", "pipe", "pipe"] });
    this.#mock = child;
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        if (out.includes("\n")) resolve(out.split("\n")[0]!);
      });
      child.once("exit", (code) => reject(new Error(`kafka-mock-broker exited (${code})`)));
    });
    this.bootstrap = (JSON.parse(line) as { bootstrap: string }).bootstrap;
    const port = Number(this.bootstrap.split(":")[1]);
    await runIn(broker.netns, "sysctl", ["-qw", "net.ipv4.conf.all.route_localnet=1"]);
    await runIn(broker.netns, "nft", ["-f", "-"], {
      input: `table ip ${this.tag}kmock {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${broker.ip} tcp dport ${KAFKA_PORT} dnat to 127.0.0.1:${port}
  }
}
`,
    });
    for (const pod of this.topo.pods.values()) {
      if (pod.name === BROKER_POD) continue;
      await runIn(pod.netns, "sysctl", ["-qw", "net.ipv4.conf.all.route_localnet=1"]);
      await runIn(pod.netns, "nft", ["-f", "-"], {
        input: `table ip ${this.tag}kmock {
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr 127.0.0.1 tcp dport ${port} dnat to ${broker.ip}:${KAFKA_PORT}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip daddr ${broker.ip} ip saddr 127.0.0.0/8 snat to ${pod.ip}
  }
}
`,
      });
    }
  }

  /** Applies Cilium's Kafka example policy (or none); nothing to do when it is already so. */
  async applyKafkaPolicy(on: boolean): Promise<void> {
    if (on === this.#policyOn) return;
    await this.applyPolicies(on ? [join(KAFKA_DIR, "kafka-sw-security-policy.yaml")] : []);
    this.#policyOn = on;
  }

  /** kcat in a pod: produce the messages to a topic. */
  async kcatProduce(pod: string, topic: string, messages: string[]): Promise<KcatResult> {
    return this.#kcat(pod, ["-P", "-t", topic], messages.join("\n") + "\n");
  }

  /** kcat in a pod: read a topic from the beginning to its end. */
  async kcatConsume(pod: string, topic: string): Promise<KcatResult> {
    return this.#kcat(pod, ["-C", "-t", topic, "-o", "beginning", "-e"]);
  }

  async #kcat(pod: string, args: string[], input?: string): Promise<KcatResult> {
    const r = await runIn(this.topo.pod(pod).netns, "kcat", ["-b", this.bootstrap, "-X", "socket.timeout.ms=5000", "-m", "10", ...args], {
      allowFail: true,
      timeoutMs: 20_000,
      ...(input !== undefined ? { input } : {}),
    });
    return { ...r, lines: r.stdout.split("\n").filter((l) => l !== "") };
  }

  override async stop(): Promise<void> {
    if (this.#mock !== null) {
      this.#mock.stdin?.end();
      this.#mock.kill("SIGTERM");
      this.#mock = null;
    }
    await super.stop();
  }
}

/** For tools that want the mock broker alone (not in a namespace): started, with its bootstrap. */
export async function startMockBroker(topics: readonly string[] = TOPICS): Promise<{ child: ChildProcess; bootstrap: string }> {
  const bin = await ensureMockBroker();
  const child = spawn(bin, topics.flatMap((t) => ["-t", t]), { stdio: ["pipe", "pipe", "inherit"] });
  const bootstrap = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding("utf8").once("data", (d: string) => resolve((JSON.parse(d.split("\n")[0]!) as { bootstrap: string }).bootstrap));
    child.once("exit", (code) => reject(new Error(`kafka-mock-broker exited (${code})`)));
  });
  return { child, bootstrap };
}
