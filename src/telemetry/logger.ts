// The process logger: JSON lines with pino, level from the run configuration.

import { pino, type Logger, type LoggerOptions } from "pino";
import { AsyncFdWriter } from "./async-fd-writer.js";

function loggerOptions(level: string): LoggerOptions {
  return { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
}

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(loggerOptions(level), destination);
}

/**
 * PIPE_BUF: a write of at most this many bytes to a pipe is never interleaved with another
 * process's writes. `--workers` share the primary's stderr, so their batches stay this small.
 */
export const PIPE_BUF = 4096;
/**
 * A process that writes stderr alone batches more: each write(2) costs the busy proxy ~20 µs,
 * a quarter of a flow line's cost at 4 KiB per write. At 1,000 lines a second, 64 KiB fill in
 * under the 250 ms a line may wait.
 */
export const SOLE_WRITER_BATCH_BYTES = 65536;
/** Longest a gathered flow record waits for its batch at low rates. */
const FLOW_BATCH_MAX_DELAY_MS = 250;

/**
 * Gathers whole lines and writes them in batches of at most `maxBytes` bytes; a longer line
 * is written alone. Lines keep their order.
 */
export class LineBatcher {
  private gathered = "";
  private bytes = 0;

  constructor(
    private readonly write: (chunk: string) => void,
    private readonly maxBytes = PIPE_BUF,
  ) {}

  /** Adds a line (ending in a newline); writes the batch first if the line would overflow it. */
  add(line: string): void {
    const n = Buffer.byteLength(line);
    if (this.bytes + n > this.maxBytes) this.flush();
    this.gathered += line;
    this.bytes += n;
    if (this.bytes >= this.maxBytes) this.flush();
  }

  flush(): void {
    if (this.bytes === 0) return;
    const lines = this.gathered;
    this.gathered = "";
    this.bytes = 0;
    this.write(lines);
  }
}

/**
 * Where Telemetry writes flow records when it is given one (instead of a pino logger): one
 * JSON line per record, the same line pino writes for
 * `logger.child({ kind: "flow" }).info({ flow: record }, "flow")`.
 */
export interface FlowLogSink {
  /** Whether records are written at all (the logger's level admits info). */
  readonly enabled: boolean;
  /** `json` is the record as JSON text; `time` its own ISO time, reused as the line's. */
  write(json: string, time: string): void;
}

export interface ProxyLoggers {
  /** Everything but flow records; each line is written as it is logged. */
  logger: Logger;
  /** For flow records (Telemetry's `flowLog`): lines are gathered and written in batches. */
  flowLog: FlowLogSink;
  /**
   * Writes whatever is gathered and queued, synchronously (at exit); a write already in
   * libuv's thread pool completes on its own.
   */
  flush(): void;
  /** Hands over what is gathered and resolves once everything so far is written (shutdown). */
  drain(): Promise<void>;
  /** Resolves once every line already handed over (not what is gathered) is written. */
  idle(): Promise<void>;
  /** Lines dropped because stderr did not keep up (or failed). */
  dropped(): number;
}

/** Log bytes that may wait for a slow stderr reader before lines are dropped (several seconds of flow records at the default rate). */
export const MAX_QUEUED_LOG_BYTES = 4 * 1024 * 1024;

/**
 * The proxy's loggers on stderr. At the default level every sampled flow record is a log
 * line, up to a thousand a second, and one write(2) each cost a few percent of throughput:
 * flow records are gathered and written `batchBytes` at a time: PIPE_BUF (4 KiB) by default,
 * so a write to a pipe shared with other workers stays whole; more for a sole writer (a line
 * waits at most 250 ms either way).
 * Writes never block the event loop (AsyncFdWriter): a stderr reader that falls behind costs
 * log lines (counted, `onDrop`), never the data path's latency. Both loggers share one
 * buffer, so lines stay whole and in order: any other line writes the gathered records before
 * it. drain() waits until everything is written (shutdown); the process's exit writes what
 * is left synchronously.
 */
export function createProxyLoggers(level: string, fd = 2, batchBytes = PIPE_BUF, onDrop?: (lines: number) => void): ProxyLoggers {
  const out = new AsyncFdWriter(fd, {
    maxQueuedBytes: MAX_QUEUED_LOG_BYTES,
    maxWriteBytes: batchBytes,
    ...(onDrop !== undefined ? { onDrop } : {}),
  });
  let atExit = false;
  const batch = new LineBatcher((lines) => void out.write(lines, !atExit), batchBytes);
  const flush = (): void => {
    atExit = true;
    batch.flush();
    out.flushSync();
    atExit = false;
  };
  const logger = pino(loggerOptions(level), {
    write(line: string): void {
      batch.add(line);
      batch.flush();
    },
  });
  // pino's serializer (safe-stable-stringify) and its per-line Date were two thirds of a
  // record's cost; the record arrives as JSON text (see flow-json.ts) and already carries its
  // time. The field order is pino's.
  const head = `{"level":${pino.levels.values.info},"time":"`;
  const tail = `","pid":${process.pid},"kind":"flow","flow":`;
  const flowLog: FlowLogSink = {
    enabled: logger.isLevelEnabled("info"),
    write(json: string, time: string): void {
      batch.add(head + time + tail + json + ',"msg":"flow"}\n');
    },
  };
  const timer = setInterval(() => batch.flush(), FLOW_BATCH_MAX_DELAY_MS);
  timer.unref();
  process.once("exit", flush);
  const drain = (): Promise<void> => {
    batch.flush();
    return out.idle();
  };
  return { logger, flowLog, flush, drain, idle: () => out.idle(), dropped: () => out.dropped };
}
