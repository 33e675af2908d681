// Learned Kafka topic IDs across restarts (--state-dir): what one process learned, the next
// one knows before it listens, within the table's bounds; a damaged file is a warning.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { TopicIdPersistence } from "../../../src/control/topic-id-persistence.js";
import { TopicIdFanout } from "../../../src/control/topic-id-sync.js";
import { TOPIC_ID_LIMITS, TopicIdTable } from "../../../src/datapath/kafka/topic-ids.js";

const SCOPE = "identity 4242";
const A = "a7".repeat(16);
const B = "b8".repeat(16);
/** No process has these pids here (above the kernel's pid_max default). */
const DEAD = 4_194_400;
const DEAD2 = 4_194_401;

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length > 0) rmSync(dirs.pop()!, { recursive: true, force: true });
});
function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), "topic-id-state-"));
  dirs.push(d);
  return d;
}

function capture(): { logger: pino.Logger; lines: { msg: string; problem?: string }[] } {
  const lines: { msg: string; problem?: string }[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

function table(): TopicIdTable {
  return new TopicIdTable(TOPIC_ID_LIMITS.maxEntries, TOPIC_ID_LIMITS.maxScopes);
}

function writeState(dir: string, pid: number, doc: unknown): void {
  mkdirSync(join(dir, "kafka-topic-ids"), { recursive: true });
  writeFileSync(join(dir, "kafka-topic-ids", `${pid}.json`), typeof doc === "string" ? doc : JSON.stringify(doc));
}

describe("Kafka topic IDs in --state-dir", () => {
  it("what a process learned, the next one knows on restore, and keeps in its own file", async () => {
    const dir = stateDir();
    const { logger } = capture();
    const old = table();
    const before = new TopicIdPersistence({ table: old, stateDir: dir, logger, pid: DEAD });
    expect(before.restore()).toBe(0);
    old.learn(SCOPE, A, "empire-announce");
    await before.persist();
    before.close();

    const next = table();
    expect(next.resolve(SCOPE, A).known).toBe(false);
    const after = new TopicIdPersistence({ table: next, stateDir: dir, logger, pid: DEAD2 });
    expect(after.restore()).toBe(1);
    after.close();
    expect(next.resolve(SCOPE, A)).toEqual({ name: "empire-announce", known: true });
    // The dead process's file is gone once read; the new one holds the IDs (a second restart keeps them).
    expect(readdirSync(join(dir, "kafka-topic-ids"))).toEqual([`${DEAD2}.json`]);
    expect(JSON.parse(readFileSync(join(dir, "kafka-topic-ids", `${DEAD2}.json`), "utf8"))).toEqual({ version: 1, entries: [{ scope: SCOPE, id: A, name: "empire-announce" }] });
  });

  it("reads the file of an earlier process with its own pid (a container's proxy often has the same pid)", () => {
    const dir = stateDir();
    writeState(dir, process.pid, { version: 1, entries: [{ scope: SCOPE, id: A, name: "empire-announce" }] });
    const t = table();
    const p = new TopicIdPersistence({ table: t, stateDir: dir, logger: capture().logger });
    expect(p.restore()).toBe(1);
    p.close();
    expect(t.resolve(SCOPE, A).name).toBe("empire-announce");
  });

  it("keeps distrusted IDs distrusted, and scopes apart", () => {
    const dir = stateDir();
    writeState(dir, DEAD, { version: 1, entries: [{ scope: SCOPE, id: A, name: null }, { scope: "identity 7", id: A, name: "other" }] });
    const t = table();
    const p = new TopicIdPersistence({ table: t, stateDir: dir, logger: capture().logger });
    p.restore();
    p.close();
    expect(t.resolve(SCOPE, A).known).toBe(false);
    // A later answer cannot re-point a distrusted ID.
    expect(t.learn(SCOPE, A, "empire-announce")).toBeNull();
    expect(t.resolve("identity 7", A)).toEqual({ name: "other", known: true });
  });

  it("an unreadable or foreign file is a warning, never a crash; the readable ones and the well-formed entries still count", () => {
    const dir = stateDir();
    writeState(dir, DEAD, "{ not json");
    writeState(dir, DEAD2, { version: 2, entries: [] });
    writeState(dir, DEAD2 + 1, { version: 1, entries: [{ scope: SCOPE, id: "XYZ", name: "bad-id" }, { scope: SCOPE, id: B, name: 7 }, null, { scope: SCOPE, id: A, name: "empire-announce" }] });
    const { logger, lines } = capture();
    const t = table();
    const p = new TopicIdPersistence({ table: t, stateDir: dir, logger });
    expect(p.restore()).toBe(1);
    p.close();
    expect(t.entries()).toEqual([{ scope: SCOPE, id: A, name: "empire-announce" }]);
    const warnings = lines.filter((l) => l.msg.startsWith("ignoring an unreadable Kafka topic-ID state file"));
    expect(warnings.map((w) => w.problem)).toEqual(
      expect.arrayContaining([expect.stringContaining(`${DEAD}.json`), expect.stringMatching(new RegExp(`${DEAD2}\\.json: not an l7proxy Kafka topic-ID state file`))]),
    );
    expect(warnings).toHaveLength(2);
  });

  it("a --state-dir it cannot use is a warning: the IDs are kept in memory only", async () => {
    const dir = stateDir();
    writeFileSync(join(dir, "kafka-topic-ids"), "a file where the directory should be");
    const { logger, lines } = capture();
    const t = table();
    const p = new TopicIdPersistence({ table: t, stateDir: dir, logger });
    expect(p.restore()).toBe(0);
    t.learn(SCOPE, A, "empire-announce");
    await p.persist();
    p.close();
    expect(lines.some((l) => l.msg.startsWith("cannot use --state-dir for Kafka topic IDs"))).toBe(true);
  });

  it("what is read back keeps the table's bounds: 65,536 entries, 1,024 scopes", () => {
    const dir = stateDir();
    const id = (i: number) => i.toString(16).padStart(32, "0");
    const many = Array.from({ length: TOPIC_ID_LIMITS.maxEntries + 5000 }, (_, i) => ({ scope: `identity ${i % 2000}`, id: id(i + 1), name: `t${i}` }));
    writeState(dir, DEAD, { version: 1, entries: many });
    const t = table();
    const p = new TopicIdPersistence({ table: t, stateDir: dir, logger: capture().logger });
    p.restore();
    p.close();
    expect(t.size).toBeLessThanOrEqual(TOPIC_ID_LIMITS.maxEntries);
    expect(t.scopeCount).toBeLessThanOrEqual(TOPIC_ID_LIMITS.maxScopes);
    // The newest survive (the file lists the oldest first).
    const last = many.at(-1)!;
    expect(t.resolve(last.scope, last.id)).toEqual({ name: last.name, known: true });
  });

  it("persist: settles once what was learned before it is on disk, however many answers taught something meanwhile", async () => {
    const dir = stateDir();
    const t = table();
    const p = new TopicIdPersistence({ table: t, stateDir: dir, logger: capture().logger, pid: DEAD });
    p.restore();
    t.learn(SCOPE, A, "empire-announce");
    const first = p.persist();
    t.learn(SCOPE, B, "deathstar-plans");
    await Promise.all([first, p.persist()]);
    expect(p.holdTimeouts).toBe(0);
    p.close();
    const file = JSON.parse(readFileSync(join(dir, "kafka-topic-ids", `${DEAD}.json`), "utf8")) as { entries: unknown[] };
    expect(file.entries).toHaveLength(2);
  });

  it("an answer waits for its write at most the hold; the write still happens", async () => {
    const dir = stateDir();
    const t = table();
    const { logger, lines } = capture();
    // A clock on which every write takes seconds: the next one is spaced far later.
    let clock = 0;
    const p = new TopicIdPersistence({ table: t, stateDir: dir, logger, pid: DEAD, holdMs: 20, now: () => (clock += 5_000) });
    p.restore();
    t.learn(SCOPE, A, "empire-announce");
    await p.persist();
    expect(p.holdTimeouts).toBe(0);
    t.learn(SCOPE, B, "deathstar-plans");
    await p.persist();
    expect(p.holdTimeouts).toBe(1);
    expect(lines.some((l) => l.msg.startsWith("a Kafka Metadata answer was released before the topic IDs it taught were written"))).toBe(true);
    p.close();
  });

  it("with --workers: the primary's answer to a worker waits for the write too", async () => {
    const dir = stateDir();
    const { logger } = capture();
    let persistence!: TopicIdPersistence;
    const fanout = new TopicIdFanout({ logger, persist: () => persistence.persist() });
    persistence = new TopicIdPersistence({ table: fanout.table, stateDir: dir, logger, pid: DEAD });
    persistence.restore();
    const sent: unknown[] = [];
    const worker = { label: "worker 0", send: (m: unknown) => void sent.push(m) };
    fanout.onMessage(worker, { type: "kafka-ids-learn", id: 1, entries: [{ scope: SCOPE, id: A, name: "empire-announce" }] });
    expect(sent).toEqual([]);
    while (sent.length === 0) await new Promise((r) => setTimeout(r, 2));
    expect(sent).toEqual([{ type: "kafka-ids-learned", id: 1 }]);
    expect(persistence.holdTimeouts).toBe(0);
    persistence.close();
    const next = table();
    const again = new TopicIdPersistence({ table: next, stateDir: dir, logger, pid: DEAD2 });
    again.restore();
    again.close();
    expect(next.resolve(SCOPE, A).name).toBe("empire-announce");
  });
});
