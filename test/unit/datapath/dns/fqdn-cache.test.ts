import { describe, expect, it } from "vitest";
import { FqdnCache } from "../../../../src/datapath/dns/fqdn-cache.js";

describe("learned-name cache", () => {
  it("maps IPs back to names until their TTL runs out", () => {
    const c = new FqdnCache({ minTtlSeconds: 0, maxIpsPerName: 1000 });
    expect(c.learn("api.example.com.", ["192.0.2.1", "2001:db8:0::1"], 30, 1000).added).toEqual(["192.0.2.1", "2001:db8::1"]);
    expect(c.namesOf("192.0.2.1", 1000)).toEqual(["api.example.com."]);
    expect(c.namesOf("2001:db8::1", 30_999)).toEqual(["api.example.com."]);
    expect(c.namesOf("192.0.2.1", 31_000)).toEqual([]);
    expect(c.namesOf("192.0.2.2", 1000)).toEqual([]);
  });

  it("raises TTLs to the minimum, and a shorter later TTL never cuts a longer one", () => {
    const c = new FqdnCache({ minTtlSeconds: 60, maxIpsPerName: 1000 });
    c.learn("a.", ["192.0.2.1"], 5, 0);
    expect(c.namesOf("192.0.2.1", 59_000)).toEqual(["a."]);
    c.learn("a.", ["192.0.2.1"], 0, 1000);
    expect(c.namesOf("192.0.2.1", 60_500)).toEqual(["a."]);
    // A second answer for a known, live IP adds nothing new (no policy update needed).
    expect(c.learn("a.", ["192.0.2.1"], 10, 2000).added).toEqual([]);
  });

  it("keeps at most maxIpsPerName IPs per name, dropping the least recently answered", () => {
    const c = new FqdnCache({ minTtlSeconds: 0, maxIpsPerName: 2 });
    c.learn("a.", ["10.0.0.1"], 100, 0);
    c.learn("a.", ["10.0.0.2"], 100, 1);
    c.learn("a.", ["10.0.0.1"], 100, 2);
    c.learn("a.", ["10.0.0.3"], 100, 3);
    expect(c.namesOf("10.0.0.2", 4)).toEqual([]);
    expect(c.list(4)[0]?.ips.map((i) => i.ip)).toEqual(["10.0.0.1", "10.0.0.3"]);
  });

  it("one IP may belong to several names; sweeping frees the expired ones", () => {
    const c = new FqdnCache({ minTtlSeconds: 0, maxIpsPerName: 10 });
    c.learn("a.", ["10.0.0.1"], 10, 0);
    c.learn("b.", ["10.0.0.1"], 20, 0);
    expect(c.namesOf("10.0.0.1", 0).sort()).toEqual(["a.", "b."]);
    expect(c.sweep(15_000)).toBe(1);
    expect(c.names).toBe(1);
    expect(c.namesOf("10.0.0.1", 15_000)).toEqual(["b."]);
    expect(c.ipsMatching((n) => n === "b.", 15_000)).toEqual(["10.0.0.1"]);
    expect(c.ipsMatching((n) => n === "a.", 15_000)).toEqual([]);
  });

  it("restores a saved list, without what expired meanwhile", () => {
    const c = new FqdnCache({ minTtlSeconds: 0, maxIpsPerName: 10 });
    c.restore(
      [
        { name: "a.", ips: [{ ip: "10.0.0.1", expiresAtMs: 5000 }, { ip: "10.0.0.2", expiresAtMs: 500 }] },
      ],
      1000,
    );
    expect(c.namesOf("10.0.0.1", 4999)).toEqual(["a."]);
    expect(c.namesOf("10.0.0.1", 5000)).toEqual([]);
    expect(c.namesOf("10.0.0.2", 1000)).toEqual([]);
  });

  it("put makes a name hold exactly the given IPs (a worker's copy of the primary's entry)", () => {
    const c = new FqdnCache({ minTtlSeconds: 0, maxIpsPerName: 10 });
    c.learn("a.", ["10.0.0.1", "10.0.0.2"], 30, 1000);
    c.learn("b.", ["10.0.0.2"], 30, 1000);
    c.put({ name: "a.", ips: [{ ip: "10.0.0.3", expiresAtMs: 9000 }, { ip: "10.0.0.4", expiresAtMs: 500 }] }, 1000);
    expect(c.namesOf("10.0.0.1", 1000)).toEqual([]);
    expect(c.namesOf("10.0.0.2", 1000)).toEqual(["b."]);
    expect(c.namesOf("10.0.0.3", 8999)).toEqual(["a."]);
    expect(c.namesOf("10.0.0.4", 1000)).toEqual([]);
    expect(c.entry("a.", 1000)).toEqual({ name: "a.", ips: [{ ip: "10.0.0.3", expiresAtMs: 9000 }] });
    c.put({ name: "a.", ips: [] }, 1000);
    expect(c.entry("a.", 1000)).toEqual({ name: "a.", ips: [] });
    expect(c.names).toBe(1);
  });
});
