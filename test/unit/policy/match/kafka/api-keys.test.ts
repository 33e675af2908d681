import { describe, expect, it } from "vitest";
import { kafkaApiKeyName, KAFKA_ROLE_KEYS, requestApiKey, ruleApiKey, ruleApiVersion, ruleRoleKeys } from "../../../../../src/policy/match/kafka/api-keys.js";

// Cilium's APIKeyMap (pkg/policy/api/kafka, 1.19), written out again so that a slip in the
// table shows up here.
const CILIUM_NAMES: Record<string, number> = {
  produce: 0, fetch: 1, offsets: 2, metadata: 3, leaderandisr: 4, stopreplica: 5, updatemetadata: 6,
  controlledshutdown: 7, offsetcommit: 8, offsetfetch: 9, findcoordinator: 10, joingroup: 11,
  heartbeat: 12, leavegroup: 13, syncgroup: 14, describegroups: 15, listgroups: 16, saslhandshake: 17,
  apiversions: 18, createtopics: 19, deletetopics: 20, deleterecords: 21, initproducerid: 22,
  offsetforleaderepoch: 23, addpartitionstotxn: 24, addoffsetstotxn: 25, endtxn: 26,
  writetxnmarkers: 27, txnoffsetcommit: 28, describeacls: 29, createacls: 30, deleteacls: 31,
  describeconfigs: 32, alterconfigs: 33,
};

describe("the Kafka API-key table", () => {
  it("has exactly Cilium's names, in any case, and names every key 0-33", () => {
    for (const [name, key] of Object.entries(CILIUM_NAMES)) {
      expect(ruleApiKey(name)).toBe(key);
      expect(ruleApiKey(name.toUpperCase())).toBe(key);
      expect(kafkaApiKeyName(key)).toBe(name);
    }
    expect(kafkaApiKeyName(34)).toBeUndefined();
  });

  it("refuses in rules what Cilium's Sanitize refuses: singular names, numbers, padding", () => {
    for (const bad of ["createtopic", "deletetopic", "0", "19", " produce", "produce ", "", "listoffsets", "describelogdirs"]) {
      expect(ruleApiKey(bad), bad).toBeUndefined();
    }
  });

  it("expands roles as GetAPIKeys, in any case", () => {
    expect(ruleRoleKeys("produce")).toEqual([0, 3, 18]);
    expect(ruleRoleKeys("CONSUME")).toEqual([1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 18]);
    expect(ruleRoleKeys("admin")).toBeUndefined();
    expect(Object.isFrozen(KAFKA_ROLE_KEYS.produce)).toBe(true);
  });

  it("reads apiVersion as Go's ParseInt(v, 10, 16) with v >= 0", () => {
    expect(ruleApiVersion("0")).toBe(0);
    expect(ruleApiVersion("32767")).toBe(32767);
    expect(ruleApiVersion("007")).toBe(7);
    expect(ruleApiVersion("+3")).toBe(3);
    expect(ruleApiVersion("-0")).toBe(0);
    for (const bad of ["-1", "32768", "1e3", "0x10", " 3", "3 ", "", "1.0", "++3"]) expect(ruleApiVersion(bad), bad).toBeUndefined();
  });

  it("takes a request's key from a person as a name or a number 0..32767", () => {
    expect(requestApiKey("fetch")).toBe(1);
    expect(requestApiKey("0")).toBe(0);
    expect(requestApiKey("67")).toBe(67);
    expect(requestApiKey("32767")).toBe(32767);
    for (const bad of ["32768", "99999", "-1", "fetches", ""]) expect(requestApiKey(bad), bad).toBeUndefined();
  });
});
