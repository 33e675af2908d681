// Open-loop HTTP/1.1 load generator: sends requests on a fixed schedule (rate R: request i
// is due at t0 + i/R) whatever the server does, over a pool of keep-alive connections, and
// records each request's latency from its SCHEDULED time to the last byte of its response.
//
// Why not wrk: wrk is closed-loop (a connection sends its next request only after the
// previous answer), so a stall delays the requests that would have seen it and they are
// never measured ("coordinated omission"); wrk2, which paces, is not in Debian. Measuring
// from the scheduled time charges every request for the queueing a stall causes, as a real
// client population would feel it. The service time (from the actual write) and the send
// lag (actual write minus schedule, the generator's own lateness) are reported beside it,
// so the generator's timer granularity (Node timers fire at 1 ms resolution) can be told
// apart from the target's latency. Times come from performance.now() (sub-microsecond).
//
// Run as its own process (in the client network namespace, pinned to its own CPU):
//   node open-loop.js '<json LoadSpec>'   -> prints one JSON LoadResult line on stdout.

import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { type LatencySummary, summarize } from "../stats.js";
import { ResponseParser } from "./response-parser.js";

export interface LoadSpec {
  host: string;
  port: number;
  /** Requests per second offered. */
  rate: number;
  warmupMs: number;
  durationMs: number;
  connections: number;
  /** Request targets, used in turn (e.g. one allowed, one denied). */
  paths: string[];
  hostHeader: string;
  /** How long to wait for outstanding responses after the last send. */
  drainMs: number;
}

export interface LoadResult {
  offeredRate: number;
  /** Requests scheduled in the measured window. */
  scheduled: number;
  completed: number;
  achievedRate: number;
  status2xx: number;
  status403: number;
  statusOther: number;
  socketErrors: number;
  /** Scheduled in the window but unanswered when the drain time ran out. */
  timeouts: number;
  reconnects: number;
  /** Milliseconds, from scheduled time (coordinated-omission corrected). */
  latency: LatencySummary;
  /** Milliseconds, from the actual write. */
  service: LatencySummary;
  /** Milliseconds the generator sent late (actual write minus schedule). */
  sendLag: LatencySummary;
}

interface Conn {
  socket: Socket;
  parser: ResponseParser;
  /** Scheduled and sent time of the request in flight (NaN when idle). */
  due: number;
  sent: number;
  open: boolean;
}

export function runOpenLoop(spec: LoadSpec): Promise<LoadResult> {
  const interval = 1000 / spec.rate;
  const warmupCount = Math.floor(spec.warmupMs / interval);
  const total = warmupCount + Math.floor(spec.durationMs / interval);
  const cap = total - warmupCount;
  const latency = new Float64Array(cap);
  const service = new Float64Array(cap);
  const lag = new Float64Array(cap);
  let recorded = 0;
  const requests = spec.paths.map((p) => Buffer.from(`GET ${p} HTTP/1.1\r\nHost: ${spec.hostHeader}\r\n\r\n`, "latin1"));
  const counts = { status2xx: 0, status403: 0, statusOther: 0, socketErrors: 0, reconnects: 0, completed: 0 };

  let next = 0; // next request index to schedule
  let t0 = 0;
  const backlog: number[] = []; // indexes due but waiting for a free connection
  const idle: Conn[] = [];
  const conns: Conn[] = [];
  let finished = false;
  let resolveDone: (r: LoadResult) => void = () => undefined;
  let timer: NodeJS.Timeout | null = null;

  const inWindow = (i: number): boolean => i >= warmupCount;
  const dueOf = (i: number): number => t0 + i * interval;

  const send = (c: Conn, i: number): void => {
    c.due = i;
    c.sent = performance.now();
    c.socket.write(requests[i % requests.length] as Buffer);
  };

  const onResponse = (c: Conn, status: number, close: boolean): void => {
    const now = performance.now();
    const i = c.due;
    if (inWindow(i) && recorded < cap) {
      latency[recorded] = now - dueOf(i);
      service[recorded] = now - c.sent;
      lag[recorded] = c.sent - dueOf(i);
      recorded++;
      counts.completed++;
      if (status >= 200 && status < 300) counts.status2xx++;
      else if (status === 403) counts.status403++;
      else counts.statusOther++;
    }
    c.due = Number.NaN;
    if (close) reopen(c);
    else release(c);
    pump();
  };

  const release = (c: Conn): void => {
    const i = backlog.shift();
    if (i !== undefined) send(c, i);
    else idle.push(c);
    maybeFinish();
  };

  const open = (): Conn => {
    const socket = connect({ host: spec.host, port: spec.port, noDelay: true });
    const c: Conn = { socket, parser: null as unknown as ResponseParser, due: Number.NaN, sent: 0, open: false };
    c.parser = new ResponseParser((status, close) => onResponse(c, status, close));
    socket.on("data", (d: Buffer) => {
      try {
        c.parser.feed(d);
      } catch {
        fail(c);
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      if (c.open) fail(c);
    });
    return c;
  };

  // A request lost to a broken connection counts as a socket error; its slot is retried on a
  // fresh connection so the offered load stays what was asked.
  const fail = (c: Conn): void => {
    if (!c.open) return;
    c.open = false;
    if (!Number.isNaN(c.due) && inWindow(c.due)) counts.socketErrors++;
    c.due = Number.NaN;
    c.socket.destroy();
    const k = idle.indexOf(c);
    if (k >= 0) idle.splice(k, 1);
    if (!finished) reopen(c);
  };

  const reopen = (old: Conn): void => {
    old.open = false;
    old.socket.destroy();
    counts.reconnects++;
    const c = open();
    conns[conns.indexOf(old)] = c;
    c.socket.once("connect", () => {
      c.open = true;
      release(c);
      pump();
    });
  };

  const pump = (): void => {
    if (finished) return;
    const now = performance.now();
    while (next < total && dueOf(next) <= now) {
      const c = idle.pop();
      if (c !== undefined) send(c, next);
      else backlog.push(next);
      next++;
    }
    if (next < total) {
      if (timer === null) {
        timer = setTimeout(() => {
          timer = null;
          pump();
        }, Math.max(0, dueOf(next) - now - 0.5));
      }
    } else maybeFinish();
  };

  const maybeFinish = (): void => {
    if (finished || next < total) return;
    if (backlog.length === 0 && idle.length === conns.filter((c) => c.open).length) done();
  };

  const done = (): void => {
    if (finished) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    for (const c of conns) {
      c.open = false;
      c.socket.destroy();
    }
    const measured = total - warmupCount;
    const elapsed = (performance.now() - dueOf(warmupCount)) / 1000;
    resolveDone({
      offeredRate: spec.rate,
      scheduled: measured,
      ...counts,
      achievedRate: counts.completed / Math.max(elapsed, spec.durationMs / 1000),
      timeouts: Math.max(0, measured - counts.completed - counts.socketErrors),
      latency: summarize(latency.subarray(0, recorded)),
      service: summarize(service.subarray(0, recorded)),
      sendLag: summarize(lag.subarray(0, recorded)),
    });
  };

  return new Promise((resolve, reject) => {
    resolveDone = resolve;
    let connected = 0;
    for (let k = 0; k < spec.connections; k++) {
      const c = open();
      conns.push(c);
      c.socket.once("connect", () => {
        c.open = true;
        idle.push(c);
        if (++connected === spec.connections) {
          t0 = performance.now() + 5;
          pump();
          // Responses that never come must not hold the run forever.
          setTimeout(done, spec.warmupMs + spec.durationMs + spec.drainMs + 10).unref();
        }
      });
      c.socket.once("error", (err) => {
        if (connected < spec.connections) reject(new Error(`cannot connect to ${spec.host}:${spec.port}: ${err.message}`));
      });
    }
  });
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const spec = JSON.parse(process.argv[2] ?? "{}") as LoadSpec;
  runOpenLoop(spec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (err: Error) => {
      process.stderr.write(`open-loop: ${err.message}\n`);
      process.exit(1);
    },
  );
}
