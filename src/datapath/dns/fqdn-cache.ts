// The names DNS answers taught this node, for toFQDNs: name -> IPs, each with its expiry,
// and the reverse index the data path asks per connection (which names does this IP have?).
// One cache per node, as Cilium's global cache: an IP a pod resolved allows that pod's
// connection; an IP nobody on this node resolved allows nothing.
//
// - TTL: the answer's lowest TTL in its CNAME chain, raised to minTtlSeconds.
// - At most maxIpsPerName per name: the least recently answered IPs go first.
// - An expired IP stops matching new connections at once (namesOf checks the time); sweep()
//   only frees memory. Connections already allowed keep the names they were allowed with.

import { canonicalIp } from "../../policy/net/ip.js";

export interface FqdnCacheOptions {
  minTtlSeconds: number;
  maxIpsPerName: number;
}

export interface LearnedName {
  name: string;
  ips: { ip: string; expiresAtMs: number }[];
}

export interface LearnResult {
  /** IPs the name did not have (or had expired) before this answer. */
  added: string[];
}

export class FqdnCache {
  /** name -> ip -> expiry; Map order is least recently answered first. */
  readonly #names = new Map<string, Map<string, number>>();
  readonly #byIp = new Map<string, Set<string>>();

  constructor(private readonly options: FqdnCacheOptions) {}

  /** Records an answer for `name` (lower case, fully qualified). */
  learn(name: string, ips: readonly string[], ttlSeconds: number, nowMs: number): LearnResult {
    const ttl = Math.max(ttlSeconds, this.options.minTtlSeconds);
    const expiresAtMs = nowMs + ttl * 1000;
    let entry = this.#names.get(name);
    if (entry === undefined) {
      entry = new Map();
      this.#names.set(name, entry);
    }
    const added: string[] = [];
    for (const raw of ips) {
      // An IP the name already has is spelled canonically (it is its key): the same answer
      // again, which is most answers, costs no parse.
      const ip = entry.has(raw) ? raw : (canonicalIp(raw) ?? raw);
      const before = entry.get(ip);
      if (before === undefined || before <= nowMs) added.push(ip);
      // Re-inserted so the order stays least recently answered first; a shorter TTL in a
      // later answer never cuts a longer one already given (connections may rely on it).
      entry.delete(ip);
      entry.set(ip, Math.max(expiresAtMs, before ?? 0));
      let names = this.#byIp.get(ip);
      if (names === undefined) {
        names = new Set();
        this.#byIp.set(ip, names);
      }
      names.add(name);
    }
    while (entry.size > this.options.maxIpsPerName) {
      const oldest = entry.keys().next().value as string;
      entry.delete(oldest);
      this.#unindex(oldest, name);
    }
    if (entry.size === 0) this.#names.delete(name);
    return { added };
  }

  /** Names whose answers gave `ip` and have not expired. */
  namesOf(ip: string, nowMs: number): string[] {
    const names = this.#byIp.get(ip) ?? this.#byIp.get(canonicalIp(ip) ?? ip);
    if (names === undefined) return [];
    const out: string[] = [];
    for (const name of names) {
      const expires = this.#names.get(name)?.get(canonicalIp(ip) ?? ip);
      if (expires !== undefined && expires > nowMs) out.push(name);
    }
    return out;
  }

  /** Unexpired IPs of every name `matches` accepts (for the kernel's UDP/SCTP sets). */
  ipsMatching(matches: (name: string) => boolean, nowMs: number): string[] {
    const out = new Set<string>();
    for (const [name, ips] of this.#names) {
      if (!matches(name)) continue;
      for (const [ip, expires] of ips) if (expires > nowMs) out.add(ip);
    }
    return [...out];
  }

  /** Drops expired IPs; returns how many. */
  sweep(nowMs: number): number {
    let removed = 0;
    for (const [name, ips] of this.#names) {
      for (const [ip, expires] of ips) {
        if (expires > nowMs) continue;
        ips.delete(ip);
        this.#unindex(ip, name);
        removed++;
      }
      if (ips.size === 0) this.#names.delete(name);
    }
    return removed;
  }

  /** Everything unexpired, names sorted (for /policy and the state file). */
  list(nowMs: number): LearnedName[] {
    const out: LearnedName[] = [];
    for (const [name, ips] of this.#names) {
      const live = [...ips].filter(([, e]) => e > nowMs).map(([ip, expiresAtMs]) => ({ ip, expiresAtMs }));
      if (live.length > 0) out.push({ name, ips: live });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Restores entries (from the state file), dropping what has expired meanwhile. */
  /**
   * Takes in entries another process learned, keeping the later expiry where both know an IP.
   * Returns how many (name, IP) entries it added or extended: nothing new, nothing to save.
   */
  restore(entries: readonly LearnedName[], nowMs: number): number {
    let changed = 0;
    for (const e of entries) {
      for (const { ip, expiresAtMs } of e.ips) {
        if (expiresAtMs <= nowMs) continue;
        const key = canonicalIp(ip) ?? ip;
        const before = this.#names.get(e.name)?.get(key);
        if (before !== undefined && before >= expiresAtMs) continue;
        this.learn(e.name, [ip], 0, nowMs);
        const entry = this.#names.get(e.name);
        if (entry === undefined || !entry.has(key)) continue;
        entry.set(key, Math.max(expiresAtMs, entry.get(key)!));
        changed++;
      }
    }
    return changed;
  }

  /** The name's unexpired IPs, least recently answered first (what a worker is sent: fqdn-sync.ts). */
  entry(name: string, nowMs: number): LearnedName {
    const ips = [...(this.#names.get(name) ?? [])].filter(([, e]) => e > nowMs).map(([ip, expiresAtMs]) => ({ ip, expiresAtMs }));
    return { name, ips };
  }

  /**
   * Makes `entry.name` hold exactly these IPs with these expiries (no IPs: forgets the name):
   * a worker mirroring the primary's cache, evictions included.
   */
  put(entry: LearnedName, nowMs: number): void {
    const old = this.#names.get(entry.name);
    if (old !== undefined) {
      for (const ip of old.keys()) this.#unindex(ip, entry.name);
      this.#names.delete(entry.name);
    }
    const ips = new Map<string, number>();
    for (const { ip: raw, expiresAtMs } of entry.ips) {
      if (expiresAtMs <= nowMs) continue;
      const ip = canonicalIp(raw) ?? raw;
      ips.delete(ip);
      ips.set(ip, expiresAtMs);
      let names = this.#byIp.get(ip);
      if (names === undefined) {
        names = new Set();
        this.#byIp.set(ip, names);
      }
      names.add(entry.name);
    }
    if (ips.size > 0) this.#names.set(entry.name, ips);
  }

  get names(): number {
    return this.#names.size;
  }

  get ips(): number {
    let n = 0;
    for (const ips of this.#names.values()) n += ips.size;
    return n;
  }

  #unindex(ip: string, name: string): void {
    const names = this.#byIp.get(ip);
    if (names === undefined) return;
    names.delete(name);
    if (names.size === 0) this.#byIp.delete(ip);
  }
}
