// One client connection speaking HTTP/2 (h2c, prior knowledge), enforced stream by stream:
//
//   socket ─► SocketTap (frame scanners: client limits, END_STREAM, nghttp2's own refusals)
//          ─► node:http2 server session (performServerHandshake, core stream API)
//          ─► per stream: headers ─► policy (decide) ─┬─ denied: 403 / gRPC status 7, locally
//                                                     ├─ bad request: 400 (or Envoy's 307)
//                                                     └─ allowed: stream-forwarder.ts ─► upstream
//
// Decisions that are not obvious:
// - Streams are decided in a batch once per read (setImmediate), not in the 'stream' event:
//   a stream the client opened and reset in the same read (rapid reset) is dropped before
//   anything of it reaches the upstream, and upstream HEADERS go out together.
// - Policy runs once per stream on its request headers, before anything of the stream goes
//   upstream; the body is never inspected, so a streaming RPC is allowed or denied whole.
// - No stream idle timeout (Cilium removed Envoy's, which killed gRPC streams): only a
//   connection with no open stream for idleTimeoutMs is closed, with GOAWAY.
// - Stream timeouts (stream-timeouts.ts): every forwarded stream has the route timeout
//   (requestTimeoutMs, from the end of its request to the end of its response), a gRPC call
//   with a grpc-timeout header also its deadline (capped by maxGrpcTimeoutMs). One stream
//   timing out is answered or reset alone; the connection and its other streams carry on.
// - Draining (drain(), or draining() turning true when a stream arrives): GOAWAY(NO_ERROR);
//   streams already opened finish, streams the client opened after it are left unprocessed,
//   which clients retry on a new connection, then the connection closes.
// - A limit passed or a protocol error: GOAWAY with its code, counted under its error code,
//   connection closed; other connections never notice.

import { constants, performServerHandshake, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import type { ErrorCode } from "../../errors/codes.js";
import type { L7Verdict } from "../../policy/decision.js";
import { ClientFrameGuard } from "./client-frame-guard.js";
import { denyStream } from "./denied-reply.js";
import { EndStreamLedger } from "./end-stream-ledger.js";
import { forwardHeaders } from "./forward-headers.js";
import { FrameScanner } from "./frame-scanner.js";
import { goawayFrame } from "./goaway.js";
import { grpcCallOf, isGrpcContentType, type GrpcCall } from "./grpc.js";
import { localReply } from "./local-replies.js";
import { OutboundWatch } from "./outbound-watch.js";
import { H2_PREFACE } from "./preface.js";
import { requestFactsOf, type Http2RequestFacts } from "./request-facts.js";
import type { Http2Settings } from "./session-settings.js";
import { SocketTap } from "./socket-tap.js";
import { forwardStream, sendLocal, type ForwardOutcome } from "./stream-forwarder.js";
import { grpcDeadlineMs, RouteClock } from "./stream-timeouts.js";
import { UpstreamLink } from "./upstream-link.js";

/** One stream, reported when it has closed. */
export interface Http2StreamRecord {
  verdict: L7Verdict;
  method: string;
  /** The :path as forwarded (normalized). */
  url: string;
  host: string;
  /** :status sent to the client (200 for gRPC, 403 when denied), 0 when none was sent. */
  status: number;
  /** For gRPC requests: the call and the grpc-status the client got (null: none, e.g. reset). */
  grpc: (GrpcCall & { status: number | null }) | null;
  proxyLatencySeconds: number;
  upstreamLatencySeconds: number | undefined;
  startedAtMs: number;
  skippedHeaderOps: string[] | undefined;
}

export interface Http2SessionOptions {
  /** A new connection to the original destination (one per upstream HTTP/2 connection). */
  connectUpstream: () => Socket;
  /** http://host:port of the original destination. */
  origin: string;
  /** Decides one stream's request headers. Throwing resets the stream (fail closed). */
  decide: (facts: Http2RequestFacts) => L7Verdict;
  onStream: (rec: Http2StreamRecord) => void;
  /** A stream or connection refused as malformed or abusive. */
  onParseError: (code: ErrorCode) => void;
  /** Something failed that is not the client's fault: upstream, internal. */
  onConnectionError: (code: ErrorCode, detail: string) => void;
  draining: () => boolean;
  settings: Http2Settings;
}

export interface Http2Session {
  /** GOAWAY: finish the open streams, take no new ones, then close. */
  drain(): void;
}

interface Pending {
  stream: ServerHttp2Stream;
  raw: string[];
  /** Request trailers, when they came before the stream was started. */
  trailers: IncomingHttpHeaders | null;
}

const UPSTREAM_FAILURE_BODY = "upstream connect error or disconnect/reset before headers";

/**
 * Serves HTTP/2 on an accepted socket. `replay` holds the bytes already read from it (at
 * least the 24-byte preface); they are fed to the session first.
 */
export function runHttp2Session(socket: Socket, replay: Buffer, opts: Http2SessionOptions): Http2Session {
  return new ClientSession(socket, replay, opts);
}

class ClientSession implements Http2Session {
  readonly #opts: Http2SessionOptions;
  readonly #session: ServerHttp2Session;
  readonly #ledger: EndStreamLedger;
  readonly #outbound: OutboundWatch;
  readonly #upstream: UpstreamLink;
  readonly #tap: SocketTap;
  readonly #guard: ClientFrameGuard;
  readonly #routeClock: RouteClock;
  /** nghttp2 already wrote its own GOAWAY. */
  #nghttp2Goaway = false;
  #pending: Pending[] = [];
  /** Open client streams by id, for resetting an upload the response has made moot. */
  readonly #streams = new Map<number, ServerHttp2Stream>();
  #flushScheduled = false;
  #open = 0;
  #failed = false;
  #draining = false;

  constructor(socket: Socket, replay: Buffer, opts: Http2SessionOptions) {
    this.#opts = opts;
    const s = opts.settings;
    this.#routeClock = new RouteClock(s.requestTimeoutMs);
    this.#ledger = new EndStreamLedger(4 * s.maxConcurrentStreams + 64);
    const guard = new ClientFrameGuard(s, this.#ledger, () => performance.now());
    this.#outbound = new OutboundWatch({
      streamRefused: (code) => opts.onParseError(code),
      connectionRefused: () => {
        this.#nghttp2Goaway = true;
        this.#fail("L7P_ERR_H2_PROTOCOL", null);
      },
      responseEnded: (streamId) => this.#responseEnded(streamId),
    });
    const tap = new SocketTap(socket, new FrameScanner(guard, H2_PREFACE.length), new FrameScanner(this.#outbound));
    this.#tap = tap;
    this.#guard = guard;
    const session = performServerHandshake(tap, {
      settings: {
        enablePush: false,
        maxConcurrentStreams: s.maxConcurrentStreams,
        initialWindowSize: s.streamWindowBytes,
        maxHeaderListSize: s.maxHeaderListBytes,
      },
      maxHeaderListPairs: s.maxHeaderListPairs,
      maxSessionMemory: s.maxSessionMemoryMb,
    });
    this.#session = session;
    tap.onStop = () => {
      const v = guard.violation;
      this.#fail(v?.code ?? "L7P_ERR_H2_PROTOCOL", v?.h2Code ?? constants.NGHTTP2_PROTOCOL_ERROR);
    };
    this.#upstream = new UpstreamLink(opts.connectUpstream, opts.origin, s, (err) =>
      opts.onConnectionError("L7P_ERR_UPSTREAM_CONNECT", err.message),
    );
    session.once("connect", () => {
      if (s.connectionWindowBytes > 65_535 && !session.destroyed) session.setLocalWindowSize(s.connectionWindowBytes);
    });
    session.on("stream", (stream: ServerHttp2Stream, _h: unknown, _f: number, raw: string[]) => this.#onStream(stream, raw));
    session.on("error", (err: NodeJS.ErrnoException) => {
      // nghttp2's own verdicts on the client's frames; socket errors are not the client's
      // protocol and only close the session.
      if (err.code === "ERR_HTTP2_ERROR") this.#fail(sessionErrorCode(err), null);
      else this.#upstream.destroy();
    });
    session.on("close", () => {
      this.#routeClock.close();
      this.#upstream.close();
    });
    tap.start(replay);
    if (s.idleTimeoutMs > 0) {
      session.setTimeout(s.idleTimeoutMs, () => {
        if (this.#open === 0) this.drain();
      });
    }
  }

  drain(): void {
    if (this.#draining || this.#session.destroyed) return;
    this.#draining = true;
    this.#outbound.ownGoaway = true;
    this.#session.close();
  }

  /**
   * Ends the connection for a limit or protocol error, counted once under `code`: GOAWAY with
   * `h2Code` (or the one nghttp2 already wrote), then close; the upstream streams are reset.
   */
  #fail(code: ErrorCode, h2Code: number | null): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#opts.onParseError(code);
    this.#outbound.ownGoaway = true;
    this.#upstream.destroy();
    const last = this.#guard.lastStreamId;
    this.#tap.terminate(this.#nghttp2Goaway ? null : goawayFrame(last, h2Code ?? constants.NGHTTP2_PROTOCOL_ERROR));
    this.#session.destroy();
  }

  /**
   * The response on a stream is complete while the client may still be sending its request
   * (a denial, a local reply, or an upstream that answered early): ask the client to stop,
   * as RFC 9113 8.1 allows and Envoy does, with RST_STREAM NO_ERROR. Otherwise a client that
   * keeps uploading holds the stream, and a slot of the concurrency limit, for ever.
   * Deferred past the write that carried END_STREAM, so the reset follows it on the wire.
   */
  #responseEnded(id: number): void {
    const stream = this.#streams.get(id);
    // The usual case, a request already complete, costs nothing more.
    if (stream === undefined || this.#ledger.has(id) || stream.readableEnded) return;
    setImmediate(() => {
      if (stream.closed || stream.destroyed) return;
      if (this.#ledger.has(id) || stream.readableEnded) return;
      stream.close(constants.NGHTTP2_NO_ERROR);
    });
  }

  #onStream(stream: ServerHttp2Stream, raw: string[]): void {
    stream.on("error", () => {});
    const id = stream.id;
    if (id !== undefined) {
      this.#streams.set(id, stream);
      stream.once("close", () => this.#streams.delete(id));
    }
    const p: Pending = { stream, raw, trailers: null };
    // Trailers read together with the headers are emitted before the batch starts the stream.
    stream.once("trailers", (t: IncomingHttpHeaders) => (p.trailers = t));
    this.#pending.push(p);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (!this.#draining && this.#opts.draining()) this.drain();
    for (const p of batch) {
      try {
        this.#start(p);
      } catch (err) {
        this.#opts.onConnectionError("L7P_ERR_INTERNAL", (err as Error).message);
        if (!p.stream.destroyed) p.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      }
    }
  }

  #start(p: Pending): void {
    const { stream, raw } = p;
    // Reset by the client before it was looked at: nothing to decide, nothing went upstream.
    // Server streams always have their id.
    const id = stream.id ?? 0;
    if (stream.destroyed || stream.closed) {
      this.#ledger.take(id);
      return;
    }
    const startedAtMs = performance.now();
    const facts = requestFactsOf(raw);
    const grpc = isGrpcContentType(headerOf(raw, "content-type"));
    if (!("header" in facts)) {
      this.#opts.onParseError(facts.code);
      sendLocal(stream, localReply(400, "Bad Request\r\n", { grpc, headOnly: false }));
      return;
    }
    const verdict = this.#opts.decide(facts);
    const call = grpc ? grpcCallOf(facts.path) : null;
    this.#open++;
    const finish = (o: ForwardOutcome, proxyDoneMs: number, skipped: string[] | undefined): void => {
      this.#open--;
      this.#ledger.take(id);
      this.#opts.onStream({
        verdict,
        method: facts.method,
        url: facts.path,
        host: facts.host,
        status: o.status,
        grpc: call === null ? null : { service: call.service, method: call.method, status: o.grpcStatus },
        proxyLatencySeconds: (proxyDoneMs - startedAtMs) / 1000,
        upstreamLatencySeconds: o.respondedAtMs === undefined ? undefined : (o.respondedAtMs - proxyDoneMs) / 1000,
        startedAtMs,
        skippedHeaderOps: skipped,
      });
    };
    if (facts.escapedSlashes || !verdict.allowed) {
      // Envoy redirects escaped slashes before policy runs, whatever the verdict.
      const reply = facts.escapedSlashes
        ? localReply(307, "", { grpc: false, headOnly: true, extra: { location: facts.path } })
        : denyStream({ method: facts.method, grpc }, verdict);
      const outcome: ForwardOutcome = { status: 0, grpcStatus: null, respondedAtMs: undefined, upstreamReset: false };
      sendLocal(stream, reply, outcome);
      const doneMs = performance.now();
      stream.once("close", () => finish(outcome, doneMs, undefined));
      return;
    }
    const fwd = forwardHeaders(facts, verdict.headerOps);
    let up;
    try {
      // An empty body is already over ('end' came without a reader), and END_STREAM is
      // checked: a stream the client reset is closed and was dropped above.
      up = this.#upstream.request(fwd.headers, stream.endAfterHeaders || stream.readableEnded);
    } catch (err) {
      this.#opts.onConnectionError("L7P_ERR_UPSTREAM_CONNECT", (err as Error).message);
      const outcome: ForwardOutcome = { status: 0, grpcStatus: null, respondedAtMs: undefined, upstreamReset: true };
      sendLocal(stream, localReply(503, UPSTREAM_FAILURE_BODY, { grpc, headOnly: false }), outcome);
      const doneMs = performance.now();
      stream.once("close", () => finish(outcome, doneMs, undefined));
      return;
    }
    const doneMs = performance.now();
    const skipped = fwd.skipped.length > 0 ? fwd.skipped : undefined;
    // The deadline counts from the request head (Envoy: the stream's start).
    const grpcMs = grpc ? grpcDeadlineMs(headerOf(raw, "grpc-timeout"), this.#opts.settings.maxGrpcTimeoutMs) : null;
    const timing = {
      route: this.#routeClock,
      grpcDeadlineMs: grpcMs === null ? null : Math.max(0, grpcMs - (doneMs - startedAtMs)),
      head: facts.method === "HEAD",
    };
    forwardStream(stream, () => this.#ledger.take(id), () => p.trailers, up, grpc, timing, {
      done: (o) => {
        if (o.upstreamReset) this.#opts.onConnectionError("L7P_ERR_H2_UPSTREAM_RESET", `upstream reset stream for ${facts.path}`);
        finish(o, doneMs, skipped);
      },
      ownRefusal: (streamId) => this.#outbound.ownRefusal(streamId),
      timedOut: (kind) =>
        kind === "route"
          ? this.#opts.onConnectionError("L7P_ERR_TIMEOUT", `no complete response within the request timeout for ${facts.path}`)
          : this.#opts.onConnectionError("L7P_ERR_GRPC_DEADLINE", `gRPC deadline passed before the response was complete for ${facts.path}`),
    });
  }
}

function headerOf(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) return raw[i + 1];
  return undefined;
}

/** nghttp2's errors (NghttpError.errno) to the proxy's codes. */
function sessionErrorCode(err: { errno?: number }): ErrorCode {
  switch (err.errno) {
    case -905:
      return "L7P_ERR_H2_CONTINUATION_FLOOD";
    case -904:
      return "L7P_ERR_H2_FLOOD";
    default:
      return "L7P_ERR_H2_PROTOCOL";
  }
}
