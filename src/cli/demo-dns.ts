// `l7proxy demo dns`: the toFQDNs story of the policy in proxy-config/dns/ (every pod may
// resolve *.example.com and reach what those names resolve to, nothing else), told on this
// machine in network namespaces with real interception: dnsmasq as kube-dns, dig and curl in
// the app pod, HTTP servers at "world" addresses that only a DNS answer makes reachable.

import { CLI } from "../netns/cluster.js";
import { runIn } from "../netns/exec.js";
import { ExampleComCluster, WORLD, type Lookup } from "../demo/example-com-cluster.js";
import { Story, bold, green, red, say } from "./demo-narration.js";

export const DNS_HELP = `Usage: l7proxy demo dns

Tells the toFQDNs story in network namespaces on this machine: a node namespace running
l7proxy with TPROXY interception (its DNS proxy included), kube-dns (dnsmasq), an app pod,
and web servers for api.example.com, docs.example.com and evil.test at outside addresses.
  1. no policy: the app resolves and reaches every name;
  2. the cluster-wide policy allow-egress-to-example-com (proxy-config/dns/): names under
     example.com resolve and what they resolved to is reachable; evil.test gets REFUSED
     from the DNS proxy; an address is reachable only after the app resolved its name;
  3. what l7proxy observe shows, and the names the proxy learned (/policy).
Everything is removed at the end. Needs root and the nft, ip, curl, dnsmasq and dig
commands (Debian: apt-get install nftables iproute2 curl dnsmasq-base dnsutils).
`;

export const DNS_TOOLS = ["nft", "ip", "curl", "dnsmasq", "dig"];


function describeLookup(name: string, r: Lookup): string {
  return r.status === "NOERROR" ? `${name}: ${r.addresses.join(", ") || "(no address)"}` : `${name}: ${r.status}`;
}

export async function dnsDemo(): Promise<number> {
  const cluster = new ExampleComCluster(`ex${process.pid % 100000}`);
  const story = new Story();
  const lookup = async (name: string, want: "NOERROR" | "REFUSED"): Promise<void> => {
    say(`$ kubectl exec app -- dig +short ${name}`);
    const r = await cluster.lookup(name);
    const ok = r.status === want && (want !== "NOERROR" || r.addresses.length > 0);
    say(r.status === "NOERROR" ? green(describeLookup(name, r)) : red(describeLookup(name, r)));
    if (!ok) story.fail();
  };
  const fetch = async (url: string, reachable: boolean): Promise<void> => {
    say(`$ kubectl exec app -- curl -s ${url}`);
    const r = await cluster.curl("app", [url]);
    if (r.status === 200) say(green(r.body.trimEnd()));
    else if (r.code === 6) say(red("(curl: could not resolve the host)"));
    else say(red("(no answer: the connection was blocked)"));
    if ((r.status === 200) !== reachable) story.fail();
  };
  return story.tell(cluster, "The story held: the app reaches exactly the example.com names it resolved, and evil.test not at all.", async () => {
    say(bold("Setting up: a node namespace running l7proxy, kube-dns (dnsmasq), app"));
    say(`(outside the cluster: api.example.com ${WORLD.api}, docs.example.com ${WORLD.docs}, evil.test ${WORLD.evil})`);
    await cluster.start();
    say();
    say(bold("Step 1: no policy. The app resolves and reaches anything."));
    await lookup("api.example.com", "NOERROR");
    await lookup("evil.test", "NOERROR");
    await fetch("http://evil.test/", true);
    say();
    say(bold("Step 2: cluster-wide policy: DNS only for *.example.com, egress only to what those names resolve to."));
    say("$ kubectl apply -f proxy-config/dns/allow-egress-to-example-com.yaml");
    await cluster.applyPolicy("allow-egress-to-example-com.yaml");
    await fetch("http://api.example.com/", true);
    await lookup("evil.test", "REFUSED");
    await fetch("http://evil.test/", false);
    await fetch(`http://${WORLD.evil}/`, false);
    say(bold("docs.example.com's address is allowed only once the app has resolved the name:"));
    await fetch(`http://${WORLD.docs}/`, false);
    await lookup("docs.example.com", "NOERROR");
    await fetch(`http://${WORLD.docs}/`, true);
    say();
    const admin = `127.0.0.1:${cluster.adminPort}`;
    say(bold("What the proxy saw:"));
    say("$ l7proxy observe --protocol dns --last 4");
    const observed = await runIn(cluster.topo.nodeNetns, process.execPath, [CLI, "observe", "--admin", admin, "--protocol", "dns", "--last", "4"]);
    process.stdout.write(observed.stdout);
    say(bold("The names it learned (cilium fqdn cache list):"));
    say(`$ curl -s ${admin}/policy   # .fqdn: each name, its addresses and their expiry`);
    const policy = await cluster.admin("/policy");
    const learned = (JSON.parse(policy.body) as { fqdn?: { name: string; ips: { ip: string; expiresAt: string }[] }[] }).fqdn ?? [];
    for (const n of learned) say(`${n.name}  ${n.ips.map((i) => `${i.ip} (until ${i.expiresAt})`).join(", ")}`);
    if (learned.length === 0) {
      say(red("(none)"));
      story.fail();
    }
  });
}
