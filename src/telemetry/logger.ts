// The process logger: JSON lines with pino, level from the run configuration.

import { pino, type Logger } from "pino";

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
