// Learned Kafka topic IDs on disk, so a restarted proxy (a rolling restart of the DaemonSet, a
// replaced primary) still decides a Fetch or Produce by ID from a client that learned its IDs
// before the restart and will not ask Metadata again: <state-dir>/kafka-topic-ids/<pid>.json,
// one file per process (process-state-files.ts). Entries keep their scope (the destination
// identity that taught them) and distrusted IDs stay distrusted, so a restarted proxy holds
// the same trust as before; the table's bounds apply to what is read back (topic-ids.ts).

import { TOPIC_ID_LIMITS, type TopicIdEntry } from "../datapath/kafka/topic-ids.js";
import { ProcessStateFiles, type LoadedStates } from "./process-state-files.js";

interface StateFile {
  version: 1;
  /** Oldest first, as TopicIdTable.entries() lists them. */
  entries: TopicIdEntry[];
}

/**
 * The largest file read back: every entry at the bound, with a long scope (a label set) and
 * the longest topic name, fits well within it.
 */
const MAX_FILE_BYTES = TOPIC_ID_LIMITS.maxEntries * 1024;

export class TopicIdStateDir {
  readonly #files: ProcessStateFiles;

  constructor(stateDir: string, pid = process.pid) {
    this.#files = new ProcessStateFiles(stateDir, "kafka-topic-ids", pid, MAX_FILE_BYTES);
  }

  get dir(): string {
    return this.#files.dir;
  }

  save(entries: readonly TopicIdEntry[]): void {
    this.#files.save({ version: 1, entries: [...entries] } satisfies StateFile);
  }

  saveAsync(entries: readonly TopicIdEntry[]): Promise<void> {
    return this.#files.saveAsync({ version: 1, entries: [...entries] } satisfies StateFile);
  }

  /** What other processes wrote (`withOwn`: and what an earlier process with this pid wrote), oldest first in each file. */
  load(withOwn = false): LoadedStates<TopicIdEntry[]> {
    return this.#files.load(validate, withOwn);
  }

  watch(onChange: () => void): void {
    this.#files.watch(onChange);
  }

  close(): void {
    this.#files.close();
  }
}

/** Only well-formed entries come in, at most the table's bound (the newest): a damaged file names nothing it does not say. */
function validate(doc: unknown): TopicIdEntry[] {
  const d = doc as Partial<StateFile> | null;
  if (d === null || typeof d !== "object" || d.version !== 1 || !Array.isArray(d.entries)) throw new Error("not an l7proxy Kafka topic-ID state file (version 1)");
  const out: TopicIdEntry[] = [];
  for (const e of d.entries.slice(-TOPIC_ID_LIMITS.maxEntries)) {
    if (e === null || typeof e !== "object") continue;
    const { scope, id, name } = e as Partial<TopicIdEntry>;
    if (typeof scope !== "string" || typeof id !== "string" || !/^[0-9a-f]{32}$/.test(id)) continue;
    if (name !== null && (typeof name !== "string" || name === "")) continue;
    out.push({ scope, id, name });
  }
  return out;
}
