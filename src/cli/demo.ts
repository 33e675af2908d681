// `l7proxy demo` (`npm start`): the Star Wars story, told on this machine in network
// namespaces, step by step as Cilium's getting-started demo tells it on a cluster.

import { parseArgs } from "node:util";
import { CLI } from "../netns/cluster.js";
import { isRoot, run, runIn } from "../netns/exec.js";
import { SERVICE_HOST, StarWarsCluster, type ShotResult } from "../demo/starwars-cluster.js";
import { GRPC_HELP, grpcDemo } from "./demo-grpc.js";
import { KAFKA_HELP, kafkaDemo, missingKafkaTools } from "./demo-kafka.js";
import { DNS_HELP, DNS_TOOLS, dnsDemo } from "./demo-dns.js";
import { Story, bold, green, red, say } from "./demo-narration.js";

const HELP = `Usage: l7proxy demo [starwars | grpc | kafka | dns]

starwars (the default): the HTTP story. grpc: Cilium's gRPC story (l7proxy demo grpc --help).
kafka: Cilium's Kafka story (l7proxy demo kafka --help). dns: toFQDNs and the DNS proxy
(l7proxy demo dns --help).

Tells the Star Wars story in network namespaces on this machine: a node namespace running
l7proxy with TPROXY interception, deathstar (2 replicas behind a Service VIP), tiefighter
and xwing.
  1. no policy: both ships land;
  2. L3/L4 policy (only org=empire may reach the deathstar on port 80): the xwing is blocked;
  3. L7 policy (only POST /v1/request-landing): the tiefighter lands, but
     PUT /v1/exhaust-port gets "Access denied".
Everything is removed at the end. Needs root (network namespaces, nftables) and the
nft, ip and curl commands.
`;


function describeShot(r: ShotResult): string {
  if (r.curlExit === 0) return r.body.trimEnd() || `(HTTP ${r.status})`;
  if (r.curlExit === 28) return "(no answer: the connection timed out)";
  if (r.curlExit === 7 || r.curlExit === 56 || r.curlExit === 52) return "(connection refused/reset: blocked at L3/L4)";
  return `(curl failed with exit code ${r.curlExit})`;
}

async function shoot(c: StarWarsCluster, ship: string, method: string, path: string): Promise<ShotResult> {
  say(`$ kubectl exec ${ship} -- curl -s -X${method} ${SERVICE_HOST}${path}`);
  const r = await c.shoot(ship, method, path);
  const text = describeShot(r);
  // Which replica answered, on which node, and whom it saw calling (the proxy keeps the
  // ship's own address, so the deathstar's node can decide its ingress by identity).
  const where = r.servedBy !== "" ? `   [${r.servedBy} on ${c.topo.pod(r.servedBy).node} saw ${r.clientAddress}]` : "";
  say(`${r.curlExit === 0 && r.status < 400 ? green(text) : red(text)}${where}`);
  return r;
}

async function missingTools(tools: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of tools) {
    const r = await run("sh", ["-c", `command -v ${tool}`], { allowFail: true });
    if (r.code !== 0) missing.push(tool);
  }
  return missing;
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { help: { type: "boolean" } }, strict: true, allowPositionals: true });
  const story = positionals[0] ?? "starwars";
  if (positionals.length > 1 || !["starwars", "grpc", "kafka", "dns"].includes(story)) {
    process.stderr.write(`l7proxy demo: unknown story '${positionals.join(" ")}' (starwars, grpc, kafka or dns)\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(story === "kafka" ? KAFKA_HELP : story === "grpc" ? GRPC_HELP : story === "dns" ? DNS_HELP : HELP);
    return 0;
  }
  if (!isRoot()) {
    process.stderr.write(
      "l7proxy demo needs root: it creates network namespaces, veth pairs and nftables TPROXY rules.\n" +
        "Run it as root (for example: sudo npm start), on Linux with nftables and iproute2 installed.\n",
    );
    return 2;
  }
  if (story === "kafka") {
    const missingK = await missingKafkaTools();
    if (missingK.length > 0) {
      process.stderr.write(`l7proxy demo kafka needs these commands: ${missingK.join(", ")} (Debian: apt-get install nftables iproute2 kcat librdkafka-dev build-essential)\n`);
      return 2;
    }
    return kafkaDemo();
  }
  const missing = await missingTools(story === "dns" ? DNS_TOOLS : ["nft", "ip", "curl"]);
  if (missing.length > 0) {
    const debian = story === "dns" ? "nftables iproute2 curl dnsmasq-base dnsutils" : "nftables iproute2 curl";
    process.stderr.write(`l7proxy demo needs these commands: ${missing.join(", ")} (Debian: apt-get install ${debian})\n`);
    return 2;
  }
  if (story === "dns") return dnsDemo();
  if (story === "grpc") return grpcDemo();
  const cluster = new StarWarsCluster(`sw${process.pid % 100000}`);
  const narration = new Story();
  const expect = (ok: boolean): void => {
    if (!ok) narration.fail();
  };
  return narration.tell(cluster, "The story held: L3/L4 kept the xwing out, L7 kept the tiefighter away from the exhaust port.", async () => {
    say(bold("Setting up: two nodes, each running l7proxy; deathstar x2 (one per node), tiefighter, xwing"));
    await cluster.start();
    for (const n of cluster.topo.nodes) {
      const pods = [...cluster.topo.pods.values()].filter((p) => p.node === n.name).map((p) => `${p.name} (${p.ip})`);
      say(`${n.name} (${n.ip}): ${pods.join(", ")}`);
    }
    say(`Service ${SERVICE_HOST} -> 10.96.0.10:80, DNATed by the node to a replica (kube-proxy stand-in)`);
    say();

    say(bold("Step 1: no policy. Every ship can land."));
    expect((await shoot(cluster, "tiefighter", "POST", "/v1/request-landing")).body.includes("Ship landed"));
    expect((await shoot(cluster, "xwing", "POST", "/v1/request-landing")).body.includes("Ship landed"));
    say();

    say(bold("Step 2: L3/L4 policy rule1: only org=empire may reach class=deathstar on port 80/TCP."));
    say("$ kubectl apply -f proxy-config/starwars/l4-policy.yaml");
    await cluster.applyPolicy("l4-policy.yaml");
    expect((await shoot(cluster, "tiefighter", "POST", "/v1/request-landing")).body.includes("Ship landed"));
    expect((await shoot(cluster, "xwing", "POST", "/v1/request-landing")).curlExit !== 0);
    say();

    say(bold("Step 3: the tiefighter can reach everything, even the exhaust port:"));
    expect((await shoot(cluster, "tiefighter", "PUT", "/v1/exhaust-port")).body.includes("Panic"));
    say();

    say(bold("Step 4: L7 policy: org=empire may only POST /v1/request-landing."));
    say("$ kubectl apply -f proxy-config/starwars/l7-policy.yaml");
    await cluster.applyPolicy("l7-policy.yaml");
    // Twice: the Service sends one landing to each replica, so one crosses to node-2, whose
    // proxy decides the deathstar's ingress for the tiefighter it sees.
    for (let i = 0; i < 2; i++) expect((await shoot(cluster, "tiefighter", "POST", "/v1/request-landing")).body.includes("Ship landed"));
    expect((await shoot(cluster, "tiefighter", "PUT", "/v1/exhaust-port")).body === "Access denied\r\n");
    expect((await shoot(cluster, "xwing", "POST", "/v1/request-landing")).curlExit !== 0);
    say();

    say(bold("What each node's proxy saw (each decided the deathstar's ingress on its own node):"));
    for (const n of cluster.topo.nodes) {
      say(`${n.name}$ l7proxy observe --last 3`);
      const observed = await runIn(n.netns, process.execPath, [CLI, "observe", "--admin", `127.0.0.1:${cluster.adminPort}`, "--last", "3"]);
      process.stdout.write(observed.stdout);
    }
  });
}
