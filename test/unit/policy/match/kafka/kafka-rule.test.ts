import { describe, expect, it } from "vitest";
import { compileKafkaRule, kafkaRuleMatches, requestTopicSet } from "../../../../../src/policy/match/kafka/kafka-rule.js";

const req = (apiKey: number, topics: string[] | null, apiVersion = 1, clientId: string | null = "c") => ({ apiKey, apiVersion, clientId, topics });
function allowed(rules: Parameters<typeof compileKafkaRule>[0][], r: ReturnType<typeof req>): boolean {
  const topics = requestTopicSet(r.apiKey, r.topics);
  return rules.map(compileKafkaRule).some((m) => kafkaRuleMatches(m, r, topics));
}

describe("Kafka rules", () => {
  it("matches the key an apiKey name stands for, in any case", () => {
    expect(allowed([{ apiKey: "Produce" }], req(0, ["t"]))).toBe(true);
    expect(allowed([{ apiKey: "createtopics" }], req(19, null))).toBe(true);
    expect(allowed([{ apiKey: "createtopics" }], req(20, null))).toBe(false);
  });

  it("matches nothing for what validation refuses (unknown names, numbers, bad versions)", () => {
    for (const apiKey of ["createtopic", "18", " produce", "produce "]) {
      for (const key of [0, 18, 19]) expect(allowed([{ apiKey }], req(key, null)), `${apiKey} / ${key}`).toBe(false);
    }
    expect(allowed([{ role: "admin" }], req(0, ["t"]))).toBe(false);
    for (const apiVersion of ["x", "1.5", "-1", "40000", "0x1"]) {
      for (const v of [-1, 0, 1, 16, 40000]) expect(allowed([{ apiVersion }], req(0, ["t"], v)), `${apiVersion} / ${v}`).toBe(false);
    }
  });

  it("expands roles", () => {
    expect(allowed([{ role: "produce" }], req(0, ["t"]))).toBe(true);
    expect(allowed([{ role: "produce" }], req(1, ["t"]))).toBe(false);
    expect(allowed([{ role: "consume" }], req(12, null))).toBe(true);
    expect(allowed([{ role: "Consume" }], req(0, ["t"]))).toBe(false);
  });

  it("matches apiVersion and clientID exactly", () => {
    expect(allowed([{ apiKey: "fetch", apiVersion: "4" }], req(1, null, 4))).toBe(true);
    expect(allowed([{ apiKey: "fetch", apiVersion: "4" }], req(1, null, 5))).toBe(false);
    expect(allowed([{ clientID: "app" }], req(1, null, 5, "app"))).toBe(true);
    expect(allowed([{ clientID: "app" }], req(1, null, 5, "app2"))).toBe(false);
    expect(allowed([{ clientID: "app" }], req(1, null, 5, null))).toBe(false);
  });

  it("needs every topic of a request covered, possibly by several rules", () => {
    const rules = [{ role: "produce", topic: "a" }, { role: "produce", topic: "b" }];
    expect(allowed(rules, req(0, ["a", "b"]))).toBe(true);
    expect(allowed(rules, req(0, ["a", "c"]))).toBe(false);
    expect(allowed(rules, req(0, null))).toBe(false);
  });

  it("ignores the topic for API keys without topics, and never matches undecoded topic keys", () => {
    expect(allowed([{ topic: "a" }], req(18, null))).toBe(true);
    // CreateTopics carries topics but proxylib did not decode them: a topic rule cannot match.
    expect(allowed([{ topic: "a" }], req(19, ["a"]))).toBe(false);
  });
});
