// The log writer must never stall the event loop, whatever the reader of stderr does.
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { AsyncFdWriter } from "../../../src/telemetry/async-fd-writer.js";
import { createProxyLoggers, MAX_QUEUED_LOG_BYTES, SOLE_WRITER_BATCH_BYTES } from "../../../src/telemetry/logger.js";

describe("AsyncFdWriter", () => {
  test("writes every chunk whole and in order", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "l7p-afw-")), "out");
    const fd = openSync(file, "w");
    const w = new AsyncFdWriter(fd, { maxQueuedBytes: 1 << 20, maxWriteBytes: 4096 });
    const expected: string[] = [];
    for (let i = 0; i < 500; i++) {
      const line = `${i} ${"x".repeat(i % 97)}\n`;
      expected.push(line);
      expect(w.write(line)).toBe(true);
    }
    await w.idle();
    closeSync(fd);
    expect(readFileSync(file, "utf8")).toBe(expected.join(""));
    expect(w.dropped).toBe(0);
  });

  test("a reader that stops reading costs dropped lines, never a blocked event loop", async () => {
    // A pipe whose reader never reads: after its 64 KiB of buffer, every write would block.
    const reader = spawn("sleep", ["30"], { stdio: ["pipe", "ignore", "ignore"] });
    const fd = (reader.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    let dropsReported = 0;
    const w = new AsyncFdWriter(fd, { maxQueuedBytes: 256 * 1024, maxWriteBytes: 4096, onDrop: (n) => (dropsReported += n) });
    try {
      const line = `${"y".repeat(99)}\n`;
      let accepted = 0;
      // 2 MiB of lines, from one synchronous loop: with a blocking writer this never returns.
      for (let i = 0; i < 20_000; i++) if (w.write(line)) accepted++;
      let ticks = 0;
      await new Promise<void>((resolve) => {
        const tick = (): void => {
          if (++ticks === 20) resolve();
          else setTimeout(tick, 1);
        };
        tick();
      });
      expect(ticks).toBe(20);
      // Pipe buffer plus the queue bound, in lines of 100 bytes; everything else dropped and counted.
      expect(accepted).toBeLessThanOrEqual((256 * 1024) / 100 + 1);
      expect(w.dropped).toBe(20_000 - accepted);
      expect(dropsReported).toBe(w.dropped);
    } finally {
      reader.kill("SIGKILL");
    }
  });

  test("the proxy's flow log on a stalled stderr pipe drops and counts lines instead of waiting", async () => {
    const reader = spawn("sleep", ["30"], { stdio: ["pipe", "ignore", "ignore"] });
    const fd = (reader.stdin as unknown as { _handle: { fd: number } })._handle.fd;
    let counted = 0;
    const loggers = createProxyLoggers("info", fd, SOLE_WRITER_BATCH_BYTES, (n) => (counted += n));
    try {
      const record = JSON.stringify({ verdict: "FORWARDED", url: "/".padEnd(400, "z") });
      const n = Math.ceil((2 * MAX_QUEUED_LOG_BYTES) / 400);
      for (let i = 0; i < n; i++) loggers.flowLog.write(record, "2026-12-01T00:00:00.000Z");
      await new Promise((r) => setTimeout(r, 20));
      expect(loggers.dropped()).toBeGreaterThan(0);
      expect(counted).toBe(loggers.dropped());
    } finally {
      reader.kill("SIGKILL");
    }
  });
});
