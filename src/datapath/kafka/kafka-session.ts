// One Kafka connection on a port with Kafka rules. Every request frame is decoded whole and
// decided before any of it moves: allowed frames go to the broker as received; denied ones
// get the broker-style error response, written in order with the broker's responses (Kafka
// answers in request order on a connection, so each exchange waits in the generic
// ExchangeQueue until the ones before it are answered). A frame the decoder cannot read closes the connection. Responses
// stream through, framed so each is matched to the request it answers; Metadata responses
// with topic IDs are read to learn ID -> name, in the scope of this connection's destination
// (topic-ids.ts: what one broker cluster teaches is trusted for that cluster only). One that
// taught something new is held until the other processes serving the port know it too (with
// --workers; topic-id-sync.ts), so the client's next connection is decided the same wherever
// it lands; what the broker sends meanwhile waits behind it, in order.

import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { ErrorCode } from "../../errors/codes.js";
import type { KafkaRequestFacts, L7Verdict } from "../../policy/decision.js";
import { CLUSTER_AUTHORIZATION_FAILED, kafkaDenyResponder, namesTopicsById } from "./denied-reply.js";
import { encodeResponse } from "./frames.js";
import { ExchangeQueue, type QueuedExchange } from "../exchange-queue.js";
import { decodeRequest, type KafkaRefusal, type KafkaRequest } from "./request-decoder.js";
import { requestFacts } from "./request-facts.js";
import { decodeResponse } from "./response-decoder.js";
import { ResponseFramer, type ResponsePiece } from "./response-framer.js";
import { requestSpec } from "./spec/layout.js";
import { unknownIdNote, type TopicIdEntry, type TopicIdRuntime } from "./topic-ids.js";

export interface KafkaExchangeReport {
  verdict: L7Verdict;
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  topics: string[];
  /** The error code of the local answer (29, 30...), 0 when the broker answered. */
  errorCode: number;
  proxyLatencySeconds: number;
  upstreamLatencySeconds: number | undefined;
  startedAtMs: number;
}

export interface KafkaSessionHost {
  readonly client: Socket;
  connectUpstream(): Socket;
  decide(facts: KafkaRequestFacts): L7Verdict;
  report(ex: KafkaExchangeReport): void;
  parseError(code: ErrorCode): void;
  connectionError(code: ErrorCode, detail: string): void;
  draining(): boolean;
  /** The topic-ID scope of the connection's destination (topic-ids.ts topicIdScope). */
  topicIdScope(): string;
}

export interface KafkaSessionOptions {
  maxFrameBytes: number;
  maxPipelined: number;
  idleTimeoutMs: number;
  topicIds: TopicIdRuntime;
}

interface Exchange extends QueuedExchange {
  report: KafkaExchangeReport;
  /** Forwarded, and the broker will answer it (not an acks=0 Produce). */
  awaitsBroker: boolean;
  /** Read the response to learn topic IDs (Metadata v10+). */
  learn: boolean;
  tForwarded: number;
}

/** What a forwarded acks=0 Produce and a closing denial "answer": nothing. */
const NOTHING = Buffer.alloc(0);

const UNSUPPORTED_VERSION = 35;
/** The newest ApiVersions the specs define: what a too-new client is told to use. */
const API_VERSIONS_MAX = requestSpec(18)!.valid[1]!;

const REFUSAL_CODES: Readonly<Record<KafkaRefusal, ErrorCode>> = {
  "frame-too-large": "L7P_ERR_KAFKA_FRAME_TOO_LARGE",
  "unsupported-version": "L7P_ERR_KAFKA_VERSION",
  malformed: "L7P_ERR_KAFKA_REQUEST",
};

export class KafkaSession {
  private upstream: Socket | null = null;
  private readonly queue: ExchangeQueue<Exchange>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before decoding is worth trying again. */
  private want = 4;
  private readonly framer = new ResponseFramer(0x7fffffff);
  private learning: Buffer[] | null = null;
  /** A Metadata answer waiting for the other processes to learn what it taught. */
  private held: { frame: Buffer } | null = null;
  /** What the broker sent after the held answer, in order. */
  private backlog: ResponsePiece[] = [];
  private pausedForQueue = false;
  private clientEnded = false;
  /** Draining, or a queued exchange closes the connection: no further request is read. */
  private stopping = false;
  private processing = false;
  private finished = false;

  constructor(
    private readonly host: KafkaSessionHost,
    private readonly opts: KafkaSessionOptions,
  ) {
    const c = host.client;
    this.queue = new ExchangeQueue<Exchange>(
      {
        writeLocal: (ex) => {
          if (ex.local!.length > 0) this.writeClient(ex.local!);
          if (!ex.awaitsBroker && ex.report.errorCode !== 0) ex.report.proxyLatencySeconds = (performance.now() - ex.report.startedAtMs) / 1000;
        },
        finished: (ex) => this.host.report(ex.report),
        pauseReads: () => {
          this.pausedForQueue = true;
          c.pause();
        },
        resumeReads: () => {
          this.pausedForQueue = false;
          if (!this.stopping) c.resume();
          // Inside the decode loop, the loop itself goes on with the next frame.
          if (!this.processing && this.buffered >= this.want) this.processBuffered();
        },
        closeAfter: () => this.closeGracefully(),
        idle: () => this.settle(),
      },
      opts.maxPipelined,
    );
    c.on("data", (chunk: Buffer) => this.guard(() => this.onClientData(chunk)));
    c.on("end", () => {
      this.clientEnded = true;
      this.guard(() => this.settle());
    });
    c.on("close", () => this.teardown());
    if (opts.idleTimeoutMs > 0) c.setTimeout(opts.idleTimeoutMs, () => this.abort("L7P_ERR_TIMEOUT", "Kafka connection idle past --idle-timeout-ms"));
  }

  /** Draining: read nothing more, close once every request received is answered. */
  drain(): void {
    this.stopping = true;
    this.host.client.pause();
    this.settle();
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.abort("L7P_ERR_INTERNAL", `Kafka session: ${(err as Error).message}`);
    }
  }

  private onClientData(chunk: Buffer): void {
    if (this.finished || this.stopping) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered >= this.want && !this.pausedForQueue) this.processBuffered();
  }

  private processBuffered(): void {
    this.processing = true;
    // The requests of one chunk leave for the broker in one writev rather than a write each
    // (a producer's pipelined requests arrive together; each write is a trip through the
    // kernel's network stack, most of what a forwarded request costs).
    const up = this.upstream;
    up?.cork();
    try {
      this.decodeBuffered();
    } finally {
      this.processing = false;
      up?.uncork();
    }
  }

  private decodeBuffered(): void {
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    let pos = 0;
    while (!this.finished && !this.pausedForQueue && !this.stopping) {
      const t0 = performance.now();
      const r = decodeRequest(buf, pos, this.opts.maxFrameBytes);
      if (r.kind === "more") {
        this.want = buf.length - pos + r.need;
        break;
      }
      if (r.kind === "refused" && r.reason === "unsupported-version" && r.apiKey === 18 && r.end !== null) {
        // A client newer than the specs opens with its newest ApiVersions; a broker answers
        // UNSUPPORTED_VERSION at v0 with the versions it does speak, and the client retries
        // within them (KIP-511). The proxy answers for itself, so it is never handed a
        // version it cannot read. The request is decided like any other first.
        pos = r.end;
        this.want = 4;
        this.onApiVersionsTooNew(r.apiVersion!, r.correlationId!, r.clientId, t0);
        continue;
      }
      if (r.kind === "refused") {
        const where = r.apiKey === null ? "" : ` (API ${r.apiKey} v${r.apiVersion}, correlation id ${r.correlationId})`;
        this.host.parseError(REFUSAL_CODES[r.reason]);
        this.host.connectionError(REFUSAL_CODES[r.reason], `Kafka request refused${where}: ${r.detail}; connection closed`);
        this.closeNow();
        return;
      }
      pos = r.end;
      this.want = 4;
      this.onRequest(r.request, t0);
    }
    const rest = buf.subarray(pos);
    // A small remainder is copied so it does not pin a large buffer.
    this.chunks = rest.length === 0 ? [] : [rest.length < 4096 ? Buffer.from(rest) : rest];
    this.buffered = rest.length;
  }

  private onRequest(req: KafkaRequest, t0: number): void {
    const { facts, unknownIds, knownTopics } = requestFacts(req, this.opts.topicIds.table, () => this.host.topicIdScope());
    let verdict = this.host.decide(facts);
    const unknownIdDenial = !verdict.allowed && unknownIds.length > 0 && this.deniedForUnknownIds(facts, knownTopics);
    if (unknownIdDenial) verdict = { ...verdict, logs: [...verdict.logs, unknownIdNote(unknownIds)] };
    const report: KafkaExchangeReport = {
      verdict,
      apiKey: req.apiKey,
      apiVersion: req.apiVersion,
      correlationId: req.correlationId,
      clientId: req.clientId,
      topics: (facts.topics ?? []) as string[],
      errorCode: 0,
      proxyLatencySeconds: 0,
      upstreamLatencySeconds: undefined,
      startedAtMs: t0,
    };
    const ex: Exchange = { report, local: null, closeAfter: false, awaitsBroker: false, learn: false, tForwarded: 0 };
    if (verdict.allowed) {
      ex.awaitsBroker = !(req.apiKey === 0 && req.body.Acks === 0);
      // An acks=0 Produce is answered by nobody: done once forwarded, in its turn.
      if (!ex.awaitsBroker) ex.local = NOTHING;
      ex.learn = req.apiKey === 3 && req.apiVersion >= 10;
      this.forward(req.frame);
      ex.tForwarded = performance.now();
      report.proxyLatencySeconds = (ex.tForwarded - t0) / 1000;
    } else {
      const d = unknownIdDenial ? kafkaDenyResponder.unknownTopicIds(req, verdict) : kafkaDenyResponder.deny(req, verdict);
      report.errorCode = d.errorCode;
      if (d.kind === "reply") ex.local = d.frame;
      else {
        // Nothing after it may reach the broker: the connection ends at this request.
        ex.local = NOTHING;
        ex.closeAfter = true;
        this.stopping = true;
      }
    }
    this.queue.push(ex);
  }

  /**
   * Whether a denied request that names unknown topic IDs is refused for those IDs alone
   * (answered UNKNOWN_TOPIC_ID, so the client refreshes its metadata through the proxy and
   * asks again) rather than by the policy (29). Every topic must be covered for a request to
   * be allowed, so if the topics the proxy does know are denied, no name of the unknown ones
   * could allow it: that is the policy's answer. A request whose topics are all unknown cannot
   * be decided at all: it waits for the Metadata answer that names them (which the policy
   * decides too), whatever its API key allows.
   */
  private deniedForUnknownIds(facts: KafkaRequestFacts, knownTopics: string[]): boolean {
    if (!namesTopicsById(facts.apiKey, facts.apiVersion)) return false;
    return knownTopics.length === 0 || this.host.decide({ ...facts, topics: knownTopics }).allowed;
  }

  private onApiVersionsTooNew(apiVersion: number, correlationId: number, clientId: string | null, t0: number): void {
    const verdict = this.host.decide({ apiKey: 18, apiVersion, clientId, topics: [] });
    const errorCode = verdict.allowed ? UNSUPPORTED_VERSION : CLUSTER_AUTHORIZATION_FAILED;
    const body = verdict.allowed ? { ErrorCode: errorCode, ApiKeys: [{ ApiKey: 18, MinVersion: 0, MaxVersion: API_VERSIONS_MAX }] } : { ErrorCode: errorCode, ApiKeys: [] };
    const report: KafkaExchangeReport = {
      verdict, apiKey: 18, apiVersion, correlationId, clientId, topics: [], errorCode,
      proxyLatencySeconds: 0, upstreamLatencySeconds: undefined, startedAtMs: t0,
    };
    this.queue.push({ report, local: encodeResponse(18, 0, correlationId, body), closeAfter: false, awaitsBroker: false, learn: false, tForwarded: 0 });
  }

  private forward(frame: Buffer): void {
    if (this.upstream === null) this.openUpstream();
    const up = this.upstream!;
    if (!up.write(frame) && !this.host.client.isPaused()) {
      this.host.client.pause();
      up.once("drain", () => {
        if (!this.pausedForQueue && !this.stopping) this.host.client.resume();
      });
    }
  }

  private openUpstream(): void {
    const up = this.host.connectUpstream();
    this.upstream = up;
    up.on("data", (chunk: Buffer) => this.guard(() => this.onUpstreamData(chunk)));
    up.on("end", () => this.guard(() => this.onUpstreamGone("the broker closed the connection")));
    up.on("error", (err: Error) => this.onUpstreamGone(`upstream: ${err.message}`));
  }

  private onUpstreamGone(why: string): void {
    if (this.finished) return;
    // What the broker answered before it went is the client's, held or not.
    while (this.held !== null && !this.finished) this.release(this.held);
    if (this.finished) return;
    // The client sees the broker go away as a broker's close: its requests in flight fail
    // there and then, and it reconnects.
    if (this.queue.length > 0) this.host.connectionError("L7P_ERR_UPSTREAM_CONNECT", `Kafka: ${why} with requests unanswered`);
    this.finished = true;
    this.host.client.end();
    this.upstream?.destroy();
  }

  private onUpstreamData(chunk: Buffer): void {
    if (this.finished) return;
    // A chunk's pieces (response heads, bodies, the local answers they release) leave in one
    // writev rather than a write each.
    const c = this.host.client;
    c.cork();
    try {
      this.relayUpstream(chunk);
    } finally {
      c.uncork();
    }
  }

  private relayUpstream(chunk: Buffer): void {
    let pieces;
    try {
      pieces = this.framer.push(chunk);
    } catch (err) {
      return this.abort("L7P_ERR_KAFKA_RESPONSE", `Kafka: ${(err as Error).message}`);
    }
    if (this.held !== null) {
      for (const p of pieces) this.backlog.push(p);
      return;
    }
    this.relayPieces(pieces);
  }

  private relayPieces(pieces: readonly ResponsePiece[]): void {
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      const ex = this.queue.front();
      if (p.start !== null) {
        if (ex === undefined || !ex.awaitsBroker) return this.abort("L7P_ERR_KAFKA_RESPONSE", "Kafka: the broker sent a response no request is waiting for");
        if (p.start.correlationId !== ex.report.correlationId) {
          return this.abort("L7P_ERR_KAFKA_RESPONSE", `Kafka: response correlation id ${p.start.correlationId}, expected ${ex.report.correlationId}`);
        }
        ex.report.upstreamLatencySeconds = (performance.now() - ex.tForwarded) / 1000;
        // Metadata past the frame limit is passed on without learning from it.
        this.learning = ex.learn && p.start.size <= this.opts.maxFrameBytes ? [] : null;
      }
      if (this.learning !== null) this.learning.push(p.bytes);
      else this.writeClient(p.bytes);
      if (p.end) {
        if (this.learning !== null) {
          const frame = Buffer.concat(this.learning);
          this.learning = null;
          const wait = this.learnTopicIds(ex!, frame);
          if (wait !== null) return this.hold(frame, wait, pieces.slice(i + 1));
          this.writeClient(frame);
        }
        this.queue.completeFront();
        if (this.finished) return;
      }
    }
  }

  /** Learns from a Metadata answer; a promise when the answer must wait for the other processes. */
  private learnTopicIds(ex: Exchange, frame: Buffer): Promise<void> | null {
    const r = decodeResponse(3, ex.report.apiVersion, frame);
    if (!r.ok) return null;
    const topics = r.body.Topics;
    if (!Array.isArray(topics)) return null;
    const scope = this.host.topicIdScope();
    const changed: TopicIdEntry[] = [];
    for (const t of topics) {
      const s = t as { ErrorCode?: unknown; Name?: unknown; TopicId?: unknown };
      if (s.ErrorCode !== 0 || typeof s.Name !== "string" || typeof s.TopicId !== "string") continue;
      const e = this.opts.topicIds.table.learn(scope, s.TopicId, s.Name);
      if (e !== null) changed.push(e);
    }
    return changed.length === 0 ? null : this.opts.topicIds.share(changed);
  }

  /** Holds a Metadata answer (and what follows it) until `wait` settles. */
  private hold(frame: Buffer, wait: Promise<void>, rest: readonly ResponsePiece[]): void {
    const held = { frame };
    this.held = held;
    this.backlog = [...rest];
    this.upstream?.pause();
    const go = (): void => this.guard(() => this.releaseHeld(held));
    wait.then(go, go);
  }

  private releaseHeld(held: { frame: Buffer }): void {
    if (this.finished || this.held !== held) return;
    const c = this.host.client;
    c.cork();
    try {
      this.release(held);
    } finally {
      c.uncork();
    }
    if (this.held !== null || this.finished) return;
    const up = this.upstream;
    // A client that is not reading resumes the broker once it drains.
    if (!c.writableNeedDrain) up?.resume();
    else c.once("drain", () => {
      if (this.held === null) up?.resume();
    });
  }

  /** Sends the held answer, then relays what came after it (which may hold again). */
  private release(held: { frame: Buffer }): void {
    this.held = null;
    this.writeClient(held.frame);
    this.queue.completeFront();
    if (this.finished) return;
    const rest = this.backlog;
    this.backlog = [];
    this.relayPieces(rest);
  }

  private writeClient(b: Buffer): void {
    const c = this.host.client;
    if (!c.write(b) && this.upstream !== null && !this.upstream.isPaused()) {
      const up = this.upstream;
      up.pause();
      c.once("drain", () => {
        if (this.held === null) up.resume();
      });
    }
  }

  /** Ends the connection once nothing is left to answer and no more requests will come. */
  private settle(): void {
    if (this.finished || this.queue.length > 0) return;
    if (this.clientEnded || this.stopping || this.host.draining()) this.closeGracefully();
  }

  private closeGracefully(): void {
    if (this.finished) return;
    this.finished = true;
    this.host.client.end();
    this.upstream?.end();
  }

  private closeNow(): void {
    if (this.finished) return;
    this.finished = true;
    this.host.client.destroy();
    this.upstream?.destroy();
  }

  private abort(code: ErrorCode, detail: string): void {
    if (this.finished) return;
    this.host.connectionError(code, detail);
    this.closeNow();
  }

  private teardown(): void {
    this.finished = true;
    this.upstream?.destroy();
  }
}
