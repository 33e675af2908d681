// The two clocks of a forwarded HTTP/2 stream, as cilium-envoy's gRPC route has them
// (Cilium's pkg/envoy/xds_server.go: route `timeout` = http-request-timeout,
// `max_stream_duration.grpc_timeout_header_max` = http-max-grpc-timeout):
//
// - The route timeout (--request-timeout-ms, 3600 s as Cilium's): from the end of the request
//   (END_STREAM from the client) to the end of the response (END_STREAM from the upstream),
//   for every forwarded stream, as Envoy's router measures it. It counts the whole of a
//   streaming response, which is why it is long by default (Cilium's old 15 s cut gRPC
//   streams, cilium/cilium #5238). Every stream of a connection gets the same length, so the
//   deadlines fall in the order they are set: RouteClock keeps them in one insertion-ordered
//   map with one lazily re-armed timer per connection (nothing is allocated per stream but the
//   map entry, and a stream that ends only deletes it).
// - A gRPC call's deadline: its grpc-timeout, capped by --max-grpc-timeout-ms (0: no cap),
//   from the request head (Envoy's HCM max stream duration measures from the stream's start).
//   Only a call that sends a valid grpc-timeout has one: without it, or with a malformed one,
//   the cap does not apply either (Envoy's refreshDurationTimeout falls back to the route's
//   max_stream_duration, which Cilium leaves unset). Deadlines differ per call: one timer each.
//
// There is no stream idle timeout: a stream that is quiet for long keeps working (Cilium
// removed Envoy's, which killed gRPC streams, cilium/cilium #5401 and #6493).

// `performance` is the global one (the clock node:perf_hooks exports), so tests can fake it.

import { grpcTimeoutMs } from "./grpc.js";

/** setTimeout's largest delay; a longer one would fire after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;

/** The deadline a gRPC call's grpc-timeout header sets, in ms from its request head; null: none. */
export function grpcDeadlineMs(header: string | undefined, maxGrpcTimeoutMs: number): number | null {
  const t = grpcTimeoutMs(header);
  if (t === null) return null;
  return maxGrpcTimeoutMs > 0 && t > maxGrpcTimeoutMs ? maxGrpcTimeoutMs : t;
}

/** Runs `fn` after `ms` (any length, also past setTimeout's 24.8 days); the handle cancels it. */
export class Deadline {
  #timer: NodeJS.Timeout | null = null;
  readonly #at: number;

  constructor(
    ms: number,
    private readonly fn: () => void,
  ) {
    this.#at = performance.now() + ms;
    this.#arm(ms);
  }

  cancel(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.min(Math.max(ms, 0), MAX_TIMER_MS));
    // The connection's sockets keep the process alive, not its clocks.
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = null;
    const left = this.#at - performance.now();
    if (left >= 1) this.#arm(left);
    else this.fn();
  }
}

/**
 * The route timeout of one client connection's streams. `start(expired)` puts a stream on the
 * clock when its request is complete; `stop(expired)` takes it off (response complete, stream
 * gone); `expired` is called once if the timeout passes first. A function is the key.
 */
export class RouteClock {
  /** Deadlines in the order they were set, which is their order in time. */
  readonly #waiting = new Map<() => void, number>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(readonly timeoutMs: number) {}

  start(expired: () => void): void {
    if (this.timeoutMs <= 0 || this.#closed || this.#waiting.has(expired)) return;
    this.#waiting.set(expired, performance.now() + this.timeoutMs);
    if (this.#timer === null) this.#arm(this.timeoutMs);
  }

  stop(expired: () => void): void {
    // The timer stays armed: when it fires it finds the next deadline and re-arms for it.
    this.#waiting.delete(expired);
  }

  /** The connection is gone: no clock fires again. */
  close(): void {
    this.#closed = true;
    this.#waiting.clear();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.min(Math.max(ms, 1), MAX_TIMER_MS));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = null;
    const now = performance.now();
    for (const [expired, at] of this.#waiting) {
      // Timers may fire a fraction of a millisecond before performance.now() says so.
      if (at - now >= 1) {
        this.#arm(at - now);
        return;
      }
      this.#waiting.delete(expired);
      expired();
    }
  }
}
