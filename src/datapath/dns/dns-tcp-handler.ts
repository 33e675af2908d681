// DNS over TCP (a client retrying a truncated answer, or one that only speaks TCP) through the
// protocol seam: every message on the connection is a query, decided on its first question's
// name by the binding (newest snapshot, fail closed), answered REFUSED / SERVFAIL locally or
// forwarded to the resolver the client dialled over one upstream TCP connection, under a
// fresh ID. Answers may come back in any order (RFC 7766 §7): they are matched by ID and
// returned under the client's. At most MAX_PENDING queries wait at once; more pause reading.

import type { Socket } from "node:net";
import type { L7Verdict } from "../../policy/decision.js";
import type { DnsDetail, L7Exchange } from "../observer.js";
import type { ConnectionHandle, L7Connection, ProtocolHandler } from "../protocol-handler.js";
import { type ParsedQuery, readAnswer, readQuery, refusedReply, servfailReply, upstreamQuery } from "./dns-exchange.js";
import type { FqdnLearning } from "./dns-reporting.js";
import { DnsTcpFramer, frameTcp } from "./dns-tcp-framer.js";

const MAX_PENDING = 64;

interface Pending {
  query: ParsedQuery;
  verdict: L7Verdict;
  started: number;
  sentAt: number;
  deadline: number;
}

export const dnsTcpHandler: ProtocolHandler = { protocol: "dns", start: (conn) => new DnsTcpSession(conn, conn.fqdn).handle };

class DnsTcpSession {
  readonly handle: ConnectionHandle = { drain: () => this.#drain() };
  readonly #clientFramer = new DnsTcpFramer();
  readonly #upstreamFramer = new DnsTcpFramer();
  readonly #pending = new Map<number, Pending>();
  #upstream: Socket | null = null;
  #clientEnded = false;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly conn: L7Connection,
    private readonly learning: FqdnLearning | null,
  ) {
    const c = conn.client;
    c.on("data", (chunk: Buffer) => this.#onClientData(chunk));
    c.on("end", () => {
      this.#clientEnded = true;
      this.#maybeFinish();
    });
    c.once("close", () => this.#close());
    c.setTimeout(conn.config.idleTimeoutMs, () => {
      if (this.#pending.size === 0) this.#close(true);
    });
  }

  #onClientData(chunk: Buffer): void {
    const messages = this.#clientFramer.push(chunk);
    if (messages === "malformed") {
      this.conn.observer.parseError("L7P_ERR_DNS_MALFORMED");
      this.#close(true);
      return;
    }
    for (const m of messages) {
      if (this.#closed) return;
      this.#onQuery(m);
    }
    if (this.#pending.size >= MAX_PENDING) this.conn.client.pause();
  }

  #onQuery(bytes: Buffer): void {
    const started = performance.now();
    const read = readQuery(bytes);
    if (read.kind === "drop") {
      // Not a query: a stream that is not DNS. Nothing of it reaches the resolver.
      this.conn.observer.parseError("L7P_ERR_DNS_MALFORMED");
      this.#close(true);
      return;
    }
    if (read.kind === "malformed") {
      this.conn.observer.parseError("L7P_ERR_DNS_MALFORMED");
      this.#write(read.reply);
      return;
    }
    const query = read.query;
    const verdict = this.conn.binding.decideDns({ qname: query.qname });
    if (!verdict.allowed) {
      const code = this.conn.config.dnsRejectResponseCode;
      this.#write(refusedReply(query, code));
      this.#report(query, verdict, code === "name-error" ? "NXDOMAIN" : "REFUSED", [], null, started, undefined);
      return;
    }
    const id = this.#freshId();
    if (id < 0) {
      this.#write(servfailReply(query));
      this.#report(query, verdict, "SERVFAIL", [], null, started, undefined);
      return;
    }
    const now = performance.now();
    this.#pending.set(id, { query, verdict, started, sentAt: now, deadline: now + this.conn.config.dnsUpstreamTimeoutMs });
    this.#ensureTimer();
    this.#upstreamSocket().write(frameTcp(upstreamQuery(query, id)));
  }

  #freshId(): number {
    for (let i = 0; i < 16; i++) {
      const id = (Math.random() * 65536) | 0;
      if (!this.#pending.has(id)) return id;
    }
    return -1;
  }

  #upstreamSocket(): Socket {
    if (this.#upstream !== null) return this.#upstream;
    const up = this.conn.connectUpstream();
    this.#upstream = up;
    up.on("data", (chunk: Buffer) => this.#onUpstreamData(chunk));
    const gone = (): void => {
      if (this.#upstream !== up) return;
      this.#upstream = null;
      // Whatever was still waiting will not be answered on this connection.
      for (const id of [...this.#pending.keys()]) this.#fail(id);
    };
    up.on("error", gone);
    up.on("close", gone);
    return up;
  }

  #onUpstreamData(chunk: Buffer): void {
    const messages = this.#upstreamFramer.push(chunk);
    if (messages === "malformed") {
      this.conn.observer.parseError("L7P_ERR_DNS_MALFORMED");
      this.#upstream?.destroy();
      return;
    }
    for (const m of messages) {
      const p = this.#pending.get(m.readUInt16BE(0));
      if (p === undefined) continue;
      const a = readAnswer(p.query, m);
      const id = m.readUInt16BE(0);
      if (a === null) {
        // The right ID for another question: not an answer we can give the client.
        this.conn.observer.parseError("L7P_ERR_DNS_MALFORMED");
        this.#fail(id);
        continue;
      }
      this.#pending.delete(id);
      if (a.malformed !== null) this.conn.observer.parseError("L7P_ERR_DNS_MALFORMED");
      const upstreamSeconds = (performance.now() - p.sentAt) / 1000;
      const finish = (): void => {
        this.#write(a.reply);
        this.#report(p.query, p.verdict, a.rcode, a.ips, a.ttl, p.started, upstreamSeconds);
        this.#afterAnswer();
      };
      const ready = a.ips.length > 0 && this.learning !== null ? this.learning.learn(p.query.qname, a.ips, a.ttl ?? 0) : null;
      if (ready === null) finish();
      else void ready.then(finish);
    }
  }

  #fail(id: number): void {
    const p = this.#pending.get(id);
    if (p === undefined) return;
    this.#pending.delete(id);
    this.#write(servfailReply(p.query));
    this.#report(p.query, p.verdict, "SERVFAIL", [], null, p.started, undefined);
    this.#afterAnswer();
  }

  #afterAnswer(): void {
    if (this.#pending.size < MAX_PENDING && !this.#closed) this.conn.client.resume();
    this.#maybeFinish();
  }

  #ensureTimer(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => {
      const now = performance.now();
      for (const [id, p] of this.#pending) {
        if (p.deadline > now) continue;
        this.conn.observer.connectionError("L7P_ERR_TIMEOUT", "the resolver did not answer a DNS query over tcp in time (SERVFAIL sent)");
        this.#fail(id);
      }
      if (this.#pending.size === 0 && this.#timer !== null) {
        clearInterval(this.#timer);
        this.#timer = null;
      }
    }, 100);
  }

  #write(reply: Buffer): void {
    if (this.#closed || this.conn.client.destroyed) return;
    this.conn.client.write(frameTcp(reply));
  }

  #report(query: ParsedQuery, verdict: L7Verdict, rcode: string, ips: string[], ttl: number | null, started: number, upstreamLatencySeconds: number | undefined): void {
    const detail: DnsDetail = { protocol: "dns", query: query.qname, qtypes: query.qtypes, rcode, ips, ttl, transport: "tcp" };
    const ex: L7Exchange<DnsDetail> = {
      flow: this.conn.binding.flow,
      query: this.conn.query,
      verdict,
      proxyLatencySeconds: Math.max(0, (performance.now() - started) / 1000 - (upstreamLatencySeconds ?? 0)),
      upstreamLatencySeconds,
      startedAtMs: started,
      detail,
    };
    this.conn.observer.l7Request(ex);
  }

  #maybeFinish(): void {
    if (this.#pending.size > 0) return;
    if (this.#clientEnded || this.conn.draining()) this.#close();
  }

  #drain(): void {
    if (this.#pending.size === 0) this.#close();
  }

  #close(reset = false): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#upstream?.destroy();
    this.#upstream = null;
    if (reset) this.conn.client.resetAndDestroy();
    else this.conn.client.end();
  }
}
