// `l7proxy demo kafka`: Cilium's Kafka story (Documentation/security/kafka.rst), told on this
// machine in network namespaces with real interception, librdkafka's mock cluster as the
// empire's broker and kcat as every client.

import { CLI } from "../netns/cluster.js";
import { run, runIn } from "../netns/exec.js";
import { KafkaCluster, type KcatResult } from "../demo/kafka-cluster.js";
import { Story, bold, green, red, say } from "./demo-narration.js";

export const KAFKA_HELP = `Usage: l7proxy demo kafka

Tells Cilium's Kafka story in network namespaces on this machine: a node namespace running
l7proxy with TPROXY interception, an empire Kafka broker (librdkafka's mock cluster, built
from tools/kafka-mock-broker.c with gcc and librdkafka-dev if needed), empire-hq, two
outposts and a backup, all using kcat.
  1. policy secure-empire-kafka: empire-hq may produce to deathstar-plans and
     empire-announce; outposts may only consume empire-announce;
  2. empire-hq publishes an announcement and the plans;
  3. an outpost reads the announcement, but reading deathstar-plans gets
     "Broker: Topic authorization failed", and so does producing;
  4. the backup reads the plans.
Everything is removed at the end. Needs root and the nft, ip, kcat and gcc commands
(Debian: apt-get install nftables iproute2 kcat librdkafka-dev build-essential).
`;


function show(r: KcatResult, expectOk: boolean): boolean {
  for (const l of r.lines) say(green(l));
  const errors = r.stderr.split("\n").filter((l) => /error|failed/i.test(l));
  for (const l of errors.slice(0, 3)) say(red(l.trim()));
  const ok = r.code === 0 && errors.length === 0;
  if (r.lines.length === 0 && errors.length === 0) say(ok ? green("(ok)") : red(`(kcat exited ${r.code})`));
  return ok === expectOk;
}

export async function missingKafkaTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of ["nft", "ip", "kcat", "gcc"]) {
    const r = await run("sh", ["-c", `command -v ${tool}`], { allowFail: true });
    if (r.code !== 0) missing.push(tool);
  }
  return missing;
}

export async function kafkaDemo(): Promise<number> {
  const cluster = new KafkaCluster(`kd${process.pid % 100000}`);
  const story = new Story();
  const expect = (ok: boolean): void => {
    if (!ok) story.fail();
  };
  return story.tell(cluster, "The story held: the outposts read the announcements and never the plans.", async () => {
    say(bold("Setting up: a node namespace running l7proxy, the empire's Kafka broker, empire-hq, two outposts, a backup"));
    await cluster.start();
    say(`kafka-broker-0 (${cluster.topo.pod("kafka-broker-0").ip}:9092), every pod sees it as ${cluster.bootstrap}; topics deathstar-plans, empire-announce`);
    say();
    say(bold("Step 1: policy secure-empire-kafka (Cilium's example)."));
    say("$ kubectl apply -f proxy-config/kafka/kafka-sw-security-policy.yaml");
    await cluster.applyKafkaPolicy(true);
    say();
    say(bold("Step 2: empire-hq publishes."));
    say("$ kubectl exec empire-hq -- kcat -P -t empire-announce  <<< 'Happy 40th Birthday to General Tagge'");
    expect(show(await cluster.kcatProduce("empire-hq", "empire-announce", ["Happy 40th Birthday to General Tagge"]), true));
    say("$ kubectl exec empire-hq -- kcat -P -t deathstar-plans  <<< 'deathstar reactor design v3'");
    expect(show(await cluster.kcatProduce("empire-hq", "deathstar-plans", ["deathstar reactor design v3"]), true));
    say();
    say(bold("Step 3: an outpost reads the announcements, but not the plans, and may not publish."));
    say("$ kubectl exec outpost-8888 -- kcat -C -t empire-announce -e");
    expect(show(await cluster.kcatConsume("outpost-8888", "empire-announce"), true));
    say("$ kubectl exec outpost-8888 -- kcat -C -t deathstar-plans -e");
    expect(show(await cluster.kcatConsume("outpost-8888", "deathstar-plans"), false));
    say("$ kubectl exec outpost-9999 -- kcat -P -t empire-announce  <<< 'Vader Booed at Empire Karaoke Party'");
    expect(show(await cluster.kcatProduce("outpost-9999", "empire-announce", ["Vader Booed at Empire Karaoke Party"]), false));
    say();
    say(bold("Step 4: the backup may read the plans."));
    say("$ kubectl exec empire-backup -- kcat -C -t deathstar-plans -e");
    expect(show(await cluster.kcatConsume("empire-backup", "deathstar-plans"), true));
    say();
    say(bold("What the proxy saw:"));
    say("$ l7proxy observe --verdict DROPPED --protocol kafka --last 4");
    const observed = await runIn(cluster.topo.nodeNetns, process.execPath, [
      CLI, "observe", "--admin", `127.0.0.1:${cluster.adminPort}`, "--verdict", "DROPPED", "--protocol", "kafka", "--last", "4",
    ]);
    process.stdout.write(observed.stdout);
  });
}
