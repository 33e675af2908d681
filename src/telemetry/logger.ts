// The process logger: JSON lines with pino, level from the run configuration.

import { pino, type Logger, type LoggerOptions } from "pino";

function loggerOptions(level: string): LoggerOptions {
  return { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
}

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(loggerOptions(level), destination);
}

/**
 * Most bytes in one write: PIPE_BUF. A write of at most this many bytes to a pipe is never
 * interleaved with another process's writes, and `--workers` share the primary's stderr.
 */
const BATCH_BYTES = 4096;
/** Longest a gathered flow record waits for its batch at low rates. */
const FLOW_BATCH_MAX_DELAY_MS = 250;

/**
 * Gathers whole lines and writes them in batches of at most BATCH_BYTES bytes; a longer line
 * is written alone. Lines keep their order.
 */
export class LineBatcher {
  private gathered = "";
  private bytes = 0;

  constructor(private readonly write: (chunk: string) => void) {}

  /** Adds a line (ending in a newline); writes the batch first if the line would overflow it. */
  add(line: string): void {
    const n = Buffer.byteLength(line);
    if (this.bytes + n > BATCH_BYTES) this.flush();
    this.gathered += line;
    this.bytes += n;
    if (this.bytes >= BATCH_BYTES) this.flush();
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
 * flow records are gathered and written up to 4 KiB (PIPE_BUF) at a time, so a write to a
 * pipe shared with other workers stays whole (a line waits at most 250 ms).
 * Writes stay synchronous, so nothing is in flight when the process exits. Both loggers share
 * one buffer, so lines stay whole and in order: any other line writes the gathered records
 * before it. What is gathered is written on flush() and when the process exits.
 */
export function createProxyLoggers(level: string, fd = 2): ProxyLoggers {
  // pino's synchronous destination: whole writes, retried when a full pipe says EAGAIN.
  const out = pino.destination({ dest: fd, sync: true });
  const batch = new LineBatcher((lines) => {
    try {
      out.write(lines);
    } catch {
      // A closed stderr loses the lines either way; logging must never stop the proxy.
    }
  });
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
