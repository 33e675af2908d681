import { describe, expect, it } from "vitest";
import { compileKafkaRule, kafkaRuleMatches, parseApiKey, requestTopicSet } from "../../../../../src/policy/match/kafka/kafka-rule.js";

const req = (apiKey: number, topics: string[] | null, apiVersion = 1, clientId: string | null = "c") => ({ apiKey, apiVersion, clientId, topics });
function allowed(rules: Parameters<typeof compileKafkaRule>[0][], r: ReturnType<typeof req>): boolean {
  const topics = requestTopicSet(r.apiKey, r.topics);
  return rules.map(compileKafkaRule).some((m) => kafkaRuleMatches(m, r, topics));
}

describe("Kafka rules", () => {
  it("parses API names case-insensitively and numbers", () => {
    expect(parseApiKey("Produce")).toBe(0);
    expect(parseApiKey("createtopics")).toBe(19);
    expect(parseApiKey("createtopic")).toBeUndefined();
    expect(parseApiKey("18")).toBe(18);
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
