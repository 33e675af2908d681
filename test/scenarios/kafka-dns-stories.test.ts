// Kafka (empire-hq producing to deathstar-plans and empire-announce, Cilium's own example
// policy) and DNS (the tofqdn-dns-visibility example) stories.

import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { KafkaRequestFacts } from "../../src/policy/decision.js";
import { compileYaml, flow } from "../support/policy-fixtures.js";

const shared = path.resolve(import.meta.dirname, "../..", "../shared");
const haveShared = existsSync(shared);
if (!haveShared && process.env.CI !== "true") {
  console.warn(`SKIPPED: ${shared} is absent; the Kafka/DNS scenario tests read Cilium's examples from it`);
}
const describeShared = haveShared || process.env.CI === "true" ? describe : describe.skip;
const readShared = (p: string): string => readFileSync(path.join(shared, p), "utf8");

const PRODUCE = 0;
const FETCH = 1;
const METADATA = 3;
const produce = (topics: string[], clientId = "empire-hq"): KafkaRequestFacts => ({ apiKey: PRODUCE, apiVersion: 2, clientId, topics });

describeShared("Kafka: empire-hq produces to deathstar-plans and empire-announce", () => {
  const endpoints = `
endpoints:
  - {name: kafka-broker-0, labels: {app: kafka}, ips: [10.4.0.2]}
  - {name: empire-hq, labels: {app: empire-hq}, ips: [10.4.0.3]}
  - {name: empire-outpost-8888, labels: {app: empire-outpost, outpost: "8888"}, ips: [10.4.0.4]}
  - {name: empire-backup, labels: {app: empire-backup}, ips: [10.4.0.5]}
  - {name: kafka-broker-1, labels: {app: kafka}, ips: [10.4.0.6]}
`;
  const policy = () => readShared("conformance/cilium-examples-kafka-v1.19-dev/examples/kubernetes-kafka/kafka-sw-security-policy.yaml");
  const decide = (src: string, req: KafkaRequestFacts) => {
    const { snapshot } = compileYaml(policy(), endpoints);
    const q = flow(src, "10.4.0.2", 9092);
    const f = snapshot.decideFlow(q);
    expect(f.allowed).toBe(true);
    expect(f.l7).toBe("kafka");
    return snapshot.decideKafka(f, q, req);
  };

  it("lets empire-hq produce to each of its two topics, and to both in one request", () => {
    expect(decide("10.4.0.3", produce(["deathstar-plans"])).allowed).toBe(true);
    expect(decide("10.4.0.3", produce(["empire-announce"])).allowed).toBe(true);
    // Two rules together cover the request's two topics.
    const both = decide("10.4.0.3", produce(["deathstar-plans", "empire-announce"]));
    expect(both.allowed).toBe(true);
    expect(both.ingress.decidedBy).toMatchObject({ policy: "default/secure-empire-kafka", ruleIndex: 0, layer: "l7" });
  });

  it("denies a produce that names any uncovered topic", () => {
    expect(decide("10.4.0.3", produce(["rebel-plans"])).allowed).toBe(false);
    expect(decide("10.4.0.3", produce(["deathstar-plans", "rebel-plans"])).allowed).toBe(false);
  });

  it("gives the produce role Metadata and ApiVersions but not Fetch", () => {
    expect(decide("10.4.0.3", { apiKey: METADATA, apiVersion: 1, clientId: "x", topics: ["empire-announce"] }).allowed).toBe(true);
    expect(decide("10.4.0.3", { apiKey: 18, apiVersion: 0, clientId: "x", topics: null }).allowed).toBe(true);
    expect(decide("10.4.0.3", { apiKey: FETCH, apiVersion: 4, clientId: "x", topics: ["deathstar-plans"] }).allowed).toBe(false);
    // A Metadata request for all topics names none, so a topic-bound rule cannot cover it.
    expect(decide("10.4.0.3", { apiKey: METADATA, apiVersion: 1, clientId: "x", topics: null }).allowed).toBe(false);
  });

  it("lets the outpost consume empire-announce only, and the backup deathstar-plans only", () => {
    expect(decide("10.4.0.4", { apiKey: FETCH, apiVersion: 4, clientId: "o", topics: ["empire-announce"] }).allowed).toBe(true);
    expect(decide("10.4.0.4", { apiKey: FETCH, apiVersion: 4, clientId: "o", topics: ["deathstar-plans"] }).allowed).toBe(false);
    expect(decide("10.4.0.4", produce(["empire-announce"])).allowed).toBe(false);
    expect(decide("10.4.0.5", { apiKey: FETCH, apiVersion: 4, clientId: "b", topics: ["deathstar-plans"] }).allowed).toBe(true);
  });

  it("lets brokers talk to each other on any port without L7 (an L3-only rule)", () => {
    const { snapshot } = compileYaml(policy(), endpoints);
    const f = snapshot.decideFlow(flow("10.4.0.6", "10.4.0.2", 9093));
    expect(f.allowed).toBe(true);
    const q = flow("10.4.0.6", "10.4.0.2", 9092);
    const f2 = snapshot.decideFlow(q);
    // The L3-only allow wins over the Kafka rules for that peer: every request passes.
    expect(snapshot.decideKafka(f2, q, produce(["anything"])).allowed).toBe(true);
  });

  it("drops unknown clients at L3/L4", () => {
    const { snapshot } = compileYaml(policy(), endpoints);
    expect(snapshot.decideFlow(flow("192.0.2.9", "10.4.0.2", 9092)).allowed).toBe(false);
  });
});

describeShared("DNS: tofqdn-dns-visibility", () => {
  const endpoints = `
namespaces:
  - {name: kube-system}
endpoints:
  - {name: xwing, labels: {org: alliance, class: xwing}, ips: [10.5.0.2]}
  - {name: coredns-1, namespace: kube-system, labels: {k8s-app: kube-dns}, ips: [10.5.0.53]}
`;
  const policy = () => readShared("conformance/cilium-examples/examples/policies/l7/dns/dns-visibility.yaml");
  const XWING = "10.5.0.2";
  const DNS = "10.5.0.53";

  it("allows and inspects every DNS query to kube-dns, over UDP and TCP", () => {
    const { snapshot } = compileYaml(policy(), endpoints);
    for (const proto of ["UDP", "TCP"] as const) {
      const q = flow(XWING, DNS, 53, proto);
      const f = snapshot.decideFlow(q);
      expect(f.allowed).toBe(true);
      expect(f.l7).toBe("dns");
      expect(snapshot.decideDns(f, q, { qname: "anything.example.org." }).allowed).toBe(true);
    }
    expect(snapshot.decideFlow(flow(XWING, DNS, 5353, "UDP")).allowed).toBe(false);
  });

  it("allows egress to IPs that DNS answers gave for cilium.io, sub.cilium.io and *.sub.cilium.io only", () => {
    const { snapshot } = compileYaml(policy(), endpoints);
    const learned = {
      "cilium.io": ["104.198.14.52"],
      "Sub.Cilium.IO.": ["104.198.14.53"],
      "api.sub.cilium.io": ["104.198.14.54"],
      "www.cilium.io": ["104.198.14.55"],
      "a.b.sub.cilium.io": ["104.198.14.56"],
    };
    const to = (ip: string) => snapshot.decideFlow(flow(XWING, ip, 443, "TCP", learned));
    expect(to("104.198.14.52").allowed).toBe(true);
    expect(to("104.198.14.53").allowed).toBe(true);
    expect(to("104.198.14.54").allowed).toBe(true);
    expect(to("104.198.14.55").allowed).toBe(false);
    expect(to("104.198.14.56").allowed).toBe(false);
    // Without what the DNS proxy learned, the same address is just the world.
    expect(snapshot.decideFlow(flow(XWING, "104.198.14.52", 443)).allowed).toBe(false);
  });
});
