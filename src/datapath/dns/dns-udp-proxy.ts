// The DNS proxy's UDP side: datagrams TPROXY redirected from pods to their resolvers.
//
// For each datagram: the flow (pod -> resolver:port, UDP) is decided at L3/L4 (denied:
// dropped, as the kernel would), the query is read (malformed: SERVFAIL, counted), its first
// question's name is decided by the DNS rules of that flow (denied: REFUSED or NXDOMAIN), and
// an allowed query goes to the resolver the pod asked, under a fresh ID, from the pod's own
// address (udp-forwarder.ts says when not; a query that cannot leave from it gets SERVFAIL,
// counted). The answer (or
// SERVFAIL when none comes in time) goes back to the pod from the resolver's address under
// the pod's ID, once the policy that allows its addresses is in force (FqdnLearning).

import type { FlowQuery, FlowVerdict, L7Verdict, PolicySnapshot } from "../../policy/decision.js";
import type { Datagram, UdpAddress } from "../../intercept/transparent-udp.js";
import { type ParsedQuery, readAnswer, readQuery, refusedReply, servfailReply, upstreamQuery } from "./dns-exchange.js";
import type { RejectCode } from "./dns-reply.js";
import type { UdpForwarder } from "./udp-forwarder.js";
import type { DnsDetail, DnsReporter, FqdnLearning } from "./dns-reporting.js";

export interface DnsUdpProxyOptions {
  snapshot: () => PolicySnapshot | null;
  forwarder: UdpForwarder;
  /** Sends a reply to the client from the resolver's address. */
  reply: (data: Buffer, from: UdpAddress, to: UdpAddress) => void;
  learning: FqdnLearning;
  reporter: DnsReporter;
  rejectCode: RejectCode;
  /** Plain mode (--upstream): every query goes to this resolver, decided as if the pod had asked it. */
  fixedUpstream: UdpAddress | null;
  /** Policy audit mode: what policy denies is forwarded and recorded as AUDIT. */
  audit: boolean;
}

function stripMapped(ip: string): string {
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}

/** Most (pod, resolver, port) flows and names per flow whose verdicts are kept. */
const MAX_FLOWS = 4096;
const MAX_NAMES_PER_FLOW = 1024;

interface CachedFlow {
  snapshot: PolicySnapshot;
  flow: FlowVerdict;
  /** Verdicts by query name: a pod asks the same few names over and over. */
  names: Map<string, L7Verdict>;
}

interface ResolverFlows {
  ip: string;
  port: number;
  /** By the pod's address. */
  flows: Map<string, CachedFlow>;
}

export class DnsUdpProxy {
  /**
   * Verdicts per (pod, resolver, port) and per name, for the snapshot they were made on: a
   * new snapshot decides everything again. (The client's port is never part of a decision.)
   * Kept by resolver, then pod: pods mostly ask one resolver, which #last holds, so a query
   * costs one lookup by the pod's address and no key of its own.
   */
  readonly #byResolver = new Map<string, ResolverFlows>();
  #last: ResolverFlows | null = null;
  #flowCount = 0;

  constructor(private readonly o: DnsUdpProxyOptions) {}

  #flowFor(snapshot: PolicySnapshot, q: FlowQuery): CachedFlow {
    let r = this.#last;
    if (r === null || r.ip !== q.dstIp || r.port !== q.dstPort) r = this.#resolver(q.dstIp, q.dstPort);
    let c = r.flows.get(q.srcIp);
    if (c === undefined || c.snapshot !== snapshot) {
      if (c === undefined && this.#flowCount >= MAX_FLOWS) {
        this.#byResolver.clear();
        this.#flowCount = 0;
        r = this.#resolver(q.dstIp, q.dstPort);
      }
      const fresh = c === undefined;
      c = { snapshot, flow: snapshot.decideFlow(q), names: new Map() };
      r.flows.set(q.srcIp, c);
      if (fresh) this.#flowCount++;
    }
    return c;
  }

  #resolver(ip: string, port: number): ResolverFlows {
    const key = `${ip}|${port}`;
    let r = this.#byResolver.get(key);
    if (r === undefined) {
      r = { ip, port, flows: new Map() };
      this.#byResolver.set(key, r);
    }
    this.#last = r;
    return r;
  }

  #verdictFor(c: CachedFlow, q: FlowQuery, qname: string): L7Verdict {
    let v = c.names.get(qname);
    if (v === undefined) {
      if (c.names.size >= MAX_NAMES_PER_FLOW) c.names.clear();
      v = c.snapshot.decideDns(c.flow, q, { qname });
      c.names.set(qname, v);
    }
    return v;
  }

  onDatagram(d: Datagram): void {
    const started = performance.now();
    const resolver = this.o.fixedUpstream ?? d.to;
    // Not redirected (sent to the port directly): there is no resolver to ask.
    if (resolver.ip === "") return;
    const snapshot = this.o.snapshot();
    // No policy loaded yet: fail closed (the client retries, and a restarting proxy's old
    // instance answers meanwhile through SO_REUSEPORT).
    if (snapshot === null) return;
    const q: FlowQuery = { srcIp: stripMapped(d.from.ip), srcPort: d.from.port, dstIp: stripMapped(resolver.ip), dstPort: resolver.port, protocol: "UDP" };
    let cached: CachedFlow;
    try {
      cached = this.#flowFor(snapshot, q);
    } catch {
      return;
    }
    const flow = cached.flow;
    if (!flow.allowed) {
      this.o.reporter.l4Denied(flow, q, this.o.audit);
      if (!this.o.audit) return;
    }
    const read = readQuery(d.data);
    if (read.kind === "drop") {
      this.o.reporter.malformed("udp", read.reason);
      return;
    }
    if (read.kind === "malformed") {
      this.o.reporter.malformed("udp", read.reason);
      this.#send(read.reply, d);
      return;
    }
    const query = read.query;
    let verdict = this.#verdictFor(cached, q, query.qname);
    if (!verdict.allowed && this.o.audit) verdict = { ...verdict, allowed: true, audit: true };
    if (!verdict.allowed) {
      this.#send(refusedReply(query, this.o.rejectCode), d);
      this.#report(flow, q, verdict, query, this.o.rejectCode === "name-error" ? "NXDOMAIN" : "REFUSED", [], null, started, undefined);
      return;
    }
    const sentAt = performance.now();
    // From the pod's own address unless preservation is off or cannot work (udp-forwarder.ts).
    const failure = this.o.forwarder.send(q.srcIp, resolver.ip, resolver.port, (id) => upstreamQuery(query, id), {
      settle: (answer) => {
        if (answer === null) {
          this.#send(servfailReply(query), d);
          this.o.reporter.upstreamTimeout("udp");
          this.#report(flow, q, verdict, query, "SERVFAIL", [], null, started, undefined);
          return true;
        }
        const a = readAnswer(query, answer);
        if (a === null) return false;
        const upstreamSeconds = (performance.now() - sentAt) / 1000;
        if (a.malformed !== null) this.o.reporter.malformed("udp", `answer: ${a.malformed}`);
        const finish = (): void => {
          this.#send(a.reply, d);
          this.#report(flow, q, verdict, query, a.rcode, a.ips, a.ttl, started, upstreamSeconds);
        };
        const ready = a.ips.length > 0 ? this.o.learning.learn(query.qname, a.ips, a.ttl ?? 0) : null;
        if (ready === null) finish();
        else void ready.then(finish);
        return true;
      },
    });
    if (failure !== null) {
      if (failure.code !== null) this.o.reporter.upstreamFailure("udp", failure.code, failure.message);
      this.#send(servfailReply(query), d);
      this.#report(flow, q, verdict, query, "SERVFAIL", [], null, started, undefined);
    }
  }

  #send(data: Buffer, d: Datagram): void {
    try {
      // The reply comes from the address the client asked (the original destination).
      this.o.reply(data, d.to.ip === "" ? this.o.fixedUpstream ?? d.to : d.to, d.from);
    } catch (err) {
      this.o.reporter.sendError("udp", (err as Error).message);
    }
  }

  #report(
    flow: FlowVerdict,
    q: FlowQuery,
    verdict: L7Verdict,
    query: ParsedQuery,
    rcode: string,
    ips: string[],
    ttl: number | null,
    started: number,
    upstreamLatencySeconds: number | undefined,
  ): void {
    const detail: DnsDetail = { protocol: "dns", query: query.qname, qtypes: query.qtypes, rcode, ips, ttl, transport: "udp" };
    const proxySeconds = (performance.now() - started) / 1000 - (upstreamLatencySeconds ?? 0);
    this.o.reporter.exchange({
      flow,
      query: q,
      verdict,
      proxyLatencySeconds: Math.max(0, proxySeconds),
      upstreamLatencySeconds,
      startedAtMs: started,
      detail,
    });
  }
}
