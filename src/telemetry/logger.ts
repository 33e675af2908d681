// The process logger: JSON lines with pino, level from the run configuration.

import { pino, type Logger, type LoggerOptions } from "pino";

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
  /** Writes whatever is gathered, now. */
  flush(): void;
}

/**
 * The proxy's loggers on stderr. At the default level every sampled flow record is a log
 * line, up to a thousand a second, and one write(2) each cost a few percent of throughput:
 * flow records are gathered and written `batchBytes` at a time: PIPE_BUF (4 KiB) by default,
 * so a write to a pipe shared with other workers stays whole; more for a sole writer (a line
 * waits at most 250 ms either way).
 * Writes stay synchronous, so nothing is in flight when the process exits. Both loggers share
 * one buffer, so lines stay whole and in order: any other line writes the gathered records
 * before it. What is gathered is written on flush() and when the process exits.
 */
export function createProxyLoggers(level: string, fd = 2, batchBytes = PIPE_BUF): ProxyLoggers {
  // pino's synchronous destination: whole writes, retried when a full pipe says EAGAIN.
  const out = pino.destination({ dest: fd, sync: true });
  const batch = new LineBatcher((lines) => {
    try {
      out.write(lines);
    } catch {
      // A closed stderr loses the lines either way; logging must never stop the proxy.
    }
  }, batchBytes);
  const flush = (): void => batch.flush();
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
  const timer = setInterval(flush, FLOW_BATCH_MAX_DELAY_MS);
  timer.unref();
  process.once("exit", flush);
  return { logger, flowLog, flush };
}
