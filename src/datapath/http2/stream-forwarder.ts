// One allowed stream, relayed between the client and the upstream until both ends are done:
//
//   client HEADERS ─► (decided) ─► upstream request; DATA both ways with backpressure
//   (a full side pauses the other, so flow-control windows, not the proxy, hold the bytes);
//   trailers both ways (waitForTrailers + sendTrailers); RST_STREAM both ways.
//
// Truth about endings comes from the frame scanners, not from node:http2's 'end', which also
// fires when the peer resets with NO_ERROR (nodejs/node #35209):
// - the client's request cut short: the upstream stream is cancelled, never ended cleanly;
// - the upstream's response cut short (any RST_STREAM before END_STREAM): the client's stream
//   is reset with INTERNAL_ERROR (CANCEL if the upstream cancelled), never ended as a success;
// - the upstream failing before its response head: 503 (gRPC: UNAVAILABLE) as Envoy answers,
//   or RST_STREAM REFUSED_STREAM when the upstream refused the stream unprocessed (its GOAWAY
//   or its stream limit), which clients retry safely.
//
// Timeouts (stream-timeouts.ts): the route timeout runs from the end of the request to the end
// of the response, a gRPC call's deadline from its request head. When one passes, the upstream
// stream is reset with CANCEL and the client, if no response head went to it yet, gets Envoy's
// local reply: 504 "upstream request timeout" (gRPC: trailers-only UNAVAILABLE) for the route
// timeout, trailers-only DEADLINE_EXCEEDED "downstream duration timeout" for a gRPC deadline.
// If the response had started, Envoy can only reset the client's stream, and so does the
// proxy, with CANCEL: Envoy resets with NO_ERROR, which node:http2 clients take for a clean
// end (nodejs/node #35209); a timed-out response must never pass as complete.

import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { performance } from "node:perf_hooks";
import { GRPC_STATUS, grpcStatusOf } from "./grpc.js";
import { localReply, type Http2LocalReply } from "./local-replies.js";
import { Deadline, type RouteClock } from "./stream-timeouts.js";
import type { UpstreamStream } from "./upstream-link.js";

const UPSTREAM_FAILURE_BODY = "upstream connect error or disconnect/reset before headers";
/** Envoy's bodies for its router's response timeout and its HCM's max stream duration. */
const ROUTE_TIMEOUT_BODY = "upstream request timeout";
const GRPC_DEADLINE_BODY = "downstream duration timeout";

export interface ForwardOutcome {
  /** :status sent to the client (200 for gRPC), 0 when none was. */
  status: number;
  /** grpc-status the client received, null when none. */
  grpcStatus: number | null;
  /** performance.now() when the response head arrived from the upstream. */
  respondedAtMs: number | undefined;
  /** The upstream reset or cut short the response. */
  upstreamReset: boolean;
}

export interface ForwardHooks {
  /** The client stream closed, everything settled. */
  done(outcome: ForwardOutcome): void;
  /** The upstream refused the stream unprocessed: the proxy resets it REFUSED_STREAM itself. */
  ownRefusal(streamId: number): void;
  /** The route timeout or the gRPC deadline passed before the response was complete. */
  timedOut(kind: StreamTimeout): void;
}

export type StreamTimeout = "route" | "grpc-deadline";

/** What the stream's clocks need to know. */
export interface StreamTiming {
  /** The connection's route timeout (--request-timeout-ms). */
  route: RouteClock;
  /** The gRPC call's deadline in ms from now; null: none. */
  grpcDeadlineMs: number | null;
  /** A HEAD request: a local 504 has no body. */
  head: boolean;
}

export function forwardStream(
  client: ServerHttp2Stream,
  clientEndedCleanly: () => boolean,
  /** Request trailers that arrived before the stream was started. */
  earlyTrailers: () => IncomingHttpHeaders | null,
  up: UpstreamStream,
  grpc: boolean,
  timing: StreamTiming,
  hooks: ForwardHooks,
): void {
  const upstream = up.stream;
  const outcome: ForwardOutcome = { status: 0, grpcStatus: null, respondedAtMs: undefined, upstreamReset: false };
  let clientTrailers: IncomingHttpHeaders | null = null;
  let upstreamTrailers: IncomingHttpHeaders | null = null;
  let responded = false;
  /** The response went out as one HEADERS frame with END_STREAM. */
  let respondedComplete = false;
  let upstreamDone = false;

  // ---------------------------------------------------------------- clocks
  /** A timeout passed: the proxy answered or reset the client, the upstream was cancelled. */
  let timedOut = false;
  /** The response is complete, or the stream failed or closed: no clock runs any more. */
  let settled = false;
  const routeExpired = (): void => expire("route");
  const deadline = timing.grpcDeadlineMs === null ? null : new Deadline(timing.grpcDeadlineMs, () => expire("grpc-deadline"));
  function requestComplete(): void {
    if (!settled) timing.route.start(routeExpired);
  }
  function settle(): void {
    if (settled) return;
    settled = true;
    timing.route.stop(routeExpired);
    deadline?.cancel();
  }
  function expire(kind: StreamTimeout): void {
    if (settled || client.destroyed || client.closed) return;
    settle();
    timedOut = true;
    hooks.timedOut(kind);
    if (!upstream.destroyed && !upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    if (!responded && !client.headersSent) {
      const reply =
        kind === "route"
          ? localReply(504, ROUTE_TIMEOUT_BODY, { grpc, headOnly: timing.head })
          : localReply(504, GRPC_DEADLINE_BODY, { grpc: true, headOnly: false, grpcStatus: GRPC_STATUS.DEADLINE_EXCEEDED });
      sendLocal(client, reply, outcome);
      return;
    }
    client.close(constants.NGHTTP2_CANCEL);
  }

  // ---------------------------------------------------------------- client -> upstream
  client.on("data", (chunk: Buffer) => {
    // After a timeout or an upstream failure the rest of the body is read and dropped.
    if (timedOut || upstream.destroyed) return;
    if (!upstream.write(chunk)) client.pause();
  });
  upstream.on("drain", () => client.resume());
  client.on("trailers", (t: IncomingHttpHeaders) => (clientTrailers = t));
  client.on("end", () => {
    if (timedOut || upstream.destroyed) return;
    // A request that ended with its headers went upstream with END_STREAM already; ending it
    // again would only build an error.
    if (clientEndedCleanly()) {
      if (!upstream.writableEnded) upstream.end();
      requestComplete();
    } else upstream.close(constants.NGHTTP2_CANCEL);
  });
  // A request without a body may have ended before the stream was started ('end' came and
  // went without a listener).
  if (client.readableEnded) requestComplete();
  upstream.on("wantTrailers", () => upstream.sendTrailers(stripPseudo(clientTrailers ?? earlyTrailers())));

  // ---------------------------------------------------------------- upstream -> client
  upstream.on("headers", (h: IncomingHttpHeaders) => {
    // 1xx informational heads (100-continue, 103 early hints) go through as they come.
    if (!client.destroyed && !responded && !timedOut) client.additionalHeaders(h as OutgoingHttpHeaders);
  });
  // node:http2 emits 'response' on the next tick but 'data' at once: DATA read together
  // with the response head waits here until the head has gone to the client.
  let early: Buffer[] | null = null;
  let earlyEnd = false;
  upstream.on("response", (h: IncomingHttpHeaders, flags: number) => {
    if (client.destroyed || timedOut) return;
    responded = true;
    outcome.respondedAtMs = performance.now();
    outcome.status = Number(h[":status"]);
    const trailersOnly = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    if (trailersOnly) {
      outcome.grpcStatus = grpcStatusOf(h["grpc-status"]);
      respondedComplete = true;
      settle();
      client.respond(h as OutgoingHttpHeaders, { endStream: true });
    } else {
      client.respond(h as OutgoingHttpHeaders, { waitForTrailers: true });
    }
    if (early !== null) {
      const chunks = early;
      early = null;
      let full = false;
      for (const c of chunks) full = !client.write(c) || full;
      if (full) upstream.pause();
    }
    if (earlyEnd) onUpstreamEnd();
  });
  upstream.on("data", (chunk: Buffer) => {
    if (client.destroyed || timedOut) return;
    if (!responded) {
      (early ??= []).push(chunk);
      return;
    }
    if (!client.write(chunk)) upstream.pause();
  });
  client.on("drain", () => upstream.resume());
  upstream.on("trailers", (t: IncomingHttpHeaders) => (upstreamTrailers = t));
  client.on("wantTrailers", () => {
    outcome.grpcStatus = grpcStatusOf(upstreamTrailers?.["grpc-status"]);
    client.sendTrailers(stripPseudo(upstreamTrailers));
  });
  upstream.on("end", () => {
    upstreamDone = true;
    if (client.destroyed || timedOut) return;
    if (!responded && up.endedCleanlyPeek()) {
      earlyEnd = true;
      return;
    }
    onUpstreamEnd();
  });
  function onUpstreamEnd(): void {
    if (client.destroyed) return;
    if (up.endedCleanly()) {
      settle();
      if (responded && !respondedComplete && !client.writableEnded) client.end();
      return;
    }
    // node:http2 says "end", the frames say RST_STREAM: a response cut short.
    outcome.upstreamReset = true;
    failClient(constants.NGHTTP2_NO_ERROR);
  }
  upstream.on("error", () => {});
  upstream.on("close", () => {
    if (upstreamDone || client.destroyed || timedOut) return;
    upstreamDone = true;
    outcome.upstreamReset = true;
    failClient(upstream.rstCode ?? constants.NGHTTP2_INTERNAL_ERROR);
  });

  function failClient(upstreamCode: number): void {
    settle();
    if (client.destroyed || client.closed) return;
    if (!responded && !client.headersSent) {
      if (upstreamCode === constants.NGHTTP2_REFUSED_STREAM) {
        hooks.ownRefusal(client.id ?? 0);
        client.close(constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      sendLocal(client, localReply(503, UPSTREAM_FAILURE_BODY, { grpc, headOnly: false }), outcome);
      return;
    }
    client.close(upstreamCode === constants.NGHTTP2_CANCEL ? constants.NGHTTP2_CANCEL : constants.NGHTTP2_INTERNAL_ERROR);
  }

  // ---------------------------------------------------------------- the client goes away
  client.on("error", () => {});
  client.on("close", () => {
    settle();
    if (!upstream.destroyed && !upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
    hooks.done(outcome);
  });
}

/** Writes a local reply on a stream; the request body, if any, is read and dropped. */
export function sendLocal(stream: ServerHttp2Stream, reply: Http2LocalReply, outcome?: ForwardOutcome): void {
  if (stream.destroyed || stream.headersSent) return;
  if (outcome !== undefined) {
    outcome.status = reply.status;
    outcome.grpcStatus = reply.grpcStatus;
  }
  stream.respond(reply.headers, { endStream: reply.body === null });
  if (reply.body !== null) stream.end(reply.body);
  stream.resume();
}

function stripPseudo(h: IncomingHttpHeaders | null): OutgoingHttpHeaders {
  if (h === null) return {};
  const out: OutgoingHttpHeaders = {};
  for (const k of Object.keys(h)) if (k.charCodeAt(0) !== 0x3a) out[k] = h[k];
  return out;
}
