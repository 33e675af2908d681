// Writes log chunks to a file descriptor without ever blocking the event loop. The proxy's
// stderr is a pipe to the container runtime: when the runtime reads slowly, a synchronous
// write(2) to a full pipe stops every connection of the process until it drains (a blocking
// pipe), or sleeps 100 ms per retry (pino's synchronous destination on EAGAIN). Here writes
// go through libuv's thread pool (fs.write), one at a time, in order; what waits is queued up
// to a bound, and beyond it chunks are dropped and counted: losing log lines under a stalled
// collector is better than stalling the data path.
//
// Each chunk is written by one write(2) when it fits `maxWriteBytes` (PIPE_BUF for workers
// sharing a pipe, so their lines never interleave); queued chunks are joined up to that size.

import { write, writeSync } from "node:fs";

const RETRY_MS = 10;
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export interface AsyncFdWriterOptions {
  /** Bytes that may wait for the descriptor; beyond, new chunks are dropped. */
  maxQueuedBytes: number;
  /** Largest single write(2) made by joining queued chunks. */
  maxWriteBytes: number;
  /** Told of every dropped chunk (its number of lines). */
  onDrop?: (lines: number) => void;
}

export class AsyncFdWriter {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private inFlight: Buffer | null = null;
  private failed = false;
  private idleWaiters: Array<() => void> = [];
  dropped = 0;

  constructor(
    private readonly fd: number,
    private readonly opts: AsyncFdWriterOptions,
  ) {}

  /**
   * Queues `chunk`; false when it was dropped (queue full, or the descriptor failed).
   * `start: false` only queues it, for a flushSync() that follows at once.
   */
  write(chunk: string, start = true): boolean {
    if (chunk.length === 0) return true;
    const buf = Buffer.from(chunk);
    if (this.failed || this.queuedBytes + buf.length > this.opts.maxQueuedBytes) {
      this.drop(buf);
      return false;
    }
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    if (start && this.inFlight === null) this.next();
    return true;
  }

  /** Resolves once nothing is queued or being written. */
  idle(): Promise<void> {
    if (this.inFlight === null && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * At shutdown: writes what is queued, synchronously (blocking is harmless once the proxy
   * stops serving). A write still in the thread pool completes on its own.
   */
  flushSync(): void {
    // The chunk in the thread pool stays at the queue's head until its callback.
    const first = this.inFlight === null ? 0 : 1;
    // A reader that never reads again must not hold the exit forever: about a second of retries.
    let retries = 1000;
    while (!this.failed && this.queue.length > first) {
      const buf = this.queue[first]!;
      try {
        const n = writeSync(this.fd, buf);
        this.queuedBytes -= n;
        if (n < buf.length) this.queue[first] = buf.subarray(n);
        else this.queue.splice(first, 1);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EAGAIN" && retries-- > 0) {
          Atomics.wait(PAUSE, 0, 0, 1);
          continue;
        }
        this.fail();
      }
    }
  }

  private drop(buf: Buffer): void {
    let lines = 0;
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) lines++;
    this.dropped += lines;
    this.opts.onDrop?.(lines);
  }

  private next(): void {
    if (this.queue.length === 0) {
      this.inFlight = null;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    // Join whole chunks up to one write's size; a larger chunk goes alone.
    let n = 1;
    let bytes = this.queue[0]!.length;
    while (n < this.queue.length && bytes + this.queue[n]!.length <= this.opts.maxWriteBytes) bytes += this.queue[n++]!.length;
    const buf = n === 1 ? this.queue[0]! : Buffer.concat(this.queue.slice(0, n), bytes);
    this.queue.splice(0, n, buf);
    this.inFlight = buf;
    write(this.fd, buf, 0, buf.length, null, (err, written) => {
      if (this.failed) {
        this.next();
        return;
      }
      if (err !== null) {
        if (err.code === "EAGAIN") {
          setTimeout(() => this.next(), RETRY_MS).unref();
          return;
        }
        this.fail();
        this.next();
        return;
      }
      this.queuedBytes -= written;
      if (written < buf.length) this.queue[0] = buf.subarray(written);
      else this.queue.shift();
      this.next();
    });
  }

  // A closed or broken descriptor: nothing more can be written; what waits is lost.
  private fail(): void {
    this.failed = true;
    for (const b of this.queue) this.drop(b);
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}
