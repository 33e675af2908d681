// The proxy's loggers write to a real file descriptor here (a temporary file standing in
// for stderr): flow records are gathered into batches, every other line goes out at once and
// takes the gathered records with it, in order. Writes are asynchronous (never blocking the
// event loop): drain() waits for them.

import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, test } from "vitest";
import { createProxyLoggers, LineBatcher, SOLE_WRITER_BATCH_BYTES } from "../../../src/telemetry/logger.js";

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

function loggersOnFile(level = "info") {
  const dir = mkdtempSync(join(tmpdir(), "l7p-logger-"));
  const file = join(dir, "stderr");
  const fd = openSync(file, "w");
  const loggers = createProxyLoggers(level, fd);
  cleanup.push(() => {
    // Nothing may stay gathered for a descriptor number the next test reuses.
    loggers.flush();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  const lines = (): Record<string, unknown>[] =>
    readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { ...loggers, lines };
}

const T = "2026-11-22T10:00:00.000Z";

describe("createProxyLoggers", () => {
  test("a flow record's line is the line pino writes for it", async () => {
    const { flowLog, drain, lines } = loggersOnFile();
    const record = { time: T, verdict: "FORWARDED", http: { url: '/a"b\\c\u2028', code: 200, upstream: null, headers: [{ name: "x", value: "é" }] } };
    flowLog.write(JSON.stringify(record), T);
    await drain();
    const chunks: string[] = [];
    const reference = pino(
      { level: "info", base: { pid: process.pid }, timestamp: () => `,"time":"${T}"` },
      { write: (l: string) => void chunks.push(l) },
    );
    reference.child({ kind: "flow" }).info({ flow: record }, "flow");
    expect(lines()).toEqual([JSON.parse(chunks[0] as string)]);
    expect(Object.keys(lines()[0] as object)).toEqual(Object.keys(JSON.parse(chunks[0] as string) as object));
  });

  test("flow records are gathered until flushed, then written whole and in order", async () => {
    const { flowLog, drain, flush, lines } = loggersOnFile();
    for (let i = 0; i < 3; i++) flowLog.write(JSON.stringify({ n: i }), T);
    await new Promise((r) => setImmediate(r));
    expect(lines()).toEqual([]);
    await drain();
    expect(lines()).toHaveLength(3);
    flowLog.write(JSON.stringify({ n: 3 }), T);
    // At exit: synchronously.
    flush();
    expect(lines()).toHaveLength(4);
    expect(lines().map((l) => [l.kind, (l.flow as { n: number }).n])).toEqual([
      ["flow", 0],
      ["flow", 1],
      ["flow", 2],
      ["flow", 3],
    ]);
  });

  test("any other line is written at once, after the flow records gathered before it", async () => {
    const { logger, flowLog, lines, idle } = loggersOnFile();
    flowLog.write(JSON.stringify({ n: 1 }), T);
    logger.warn({ code: "X" }, "something happened");
    await idle();
    expect(lines().map((l) => l.msg)).toEqual(["flow", "something happened"]);
    expect(lines()[1]).toMatchObject({ level: 40, code: "X" });
  });

  test("a full batch is written without waiting for a flush", async () => {
    const { flowLog, lines, idle } = loggersOnFile();
    const path = "/".padEnd(200, "x");
    for (let i = 0; i < 40; i++) flowLog.write(JSON.stringify({ n: i, path }), T);
    await idle();
    const written = lines();
    // 40 lines of ~270 bytes: at least two 4 KiB batches are out, the rest still gathered.
    expect(written.length).toBeGreaterThanOrEqual(20);
    expect(written.length).toBeLessThan(40);
    expect(written.map((l) => (l.flow as { n: number }).n)).toEqual([...Array(written.length).keys()]);
  });

  test("gathered records are written within the batch delay without a flush", async () => {
    const { flowLog, lines } = loggersOnFile();
    flowLog.write(JSON.stringify({ n: 1 }), T);
    const deadline = Date.now() + 5000;
    while (lines().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(lines()).toHaveLength(1);
  });

  test("the level applies to both loggers", async () => {
    const { logger, flowLog, drain, lines } = loggersOnFile("warn");
    expect(flowLog.enabled).toBe(false);
    expect(loggersOnFile("info").flowLog.enabled).toBe(true);
    logger.info("hidden");
    logger.error("shown");
    await drain();
    expect(lines().map((l) => l.msg)).toEqual(["shown"]);
  });
});

describe("LineBatcher", () => {
  test.each([
    [undefined, 4096],
    [SOLE_WRITER_BATCH_BYTES, SOLE_WRITER_BATCH_BYTES],
  ])("no write is over its limit (%s: %d bytes) unless one line is, and lines stay whole and in order", (limit, max) => {
    const writes: string[] = [];
    const b = new LineBatcher((chunk) => void writes.push(chunk), limit);
    const lines: string[] = [];
    // Lengths 1..~1000 bytes, some with two- and three-byte UTF-8 characters.
    for (let i = 0; i < 400; i++) lines.push(`${String(i).padStart(4, "0")} ${"é€x".repeat((i * 37) % 330)}\n`);
    lines.push(`${"y".repeat(max + 1000)}\n`);
    lines.push("last\n");
    for (const l of lines) b.add(l);
    b.flush();
    for (const w of writes) {
      const bytes = Buffer.byteLength(w);
      if (bytes > max) expect(w.split("\n").filter((l) => l !== "")).toHaveLength(1);
      expect(w.endsWith("\n")).toBe(true);
    }
    expect(writes.join("")).toBe(lines.join(""));
    // Batched, not one write per line.
    expect(writes.length).toBeLessThan(lines.length / 2);
  });

  test("flush with nothing gathered writes nothing", () => {
    const writes: string[] = [];
    new LineBatcher((c) => void writes.push(c)).flush();
    expect(writes).toEqual([]);
  });
});
