// One kind of state that survives a restart, kept under --state-dir/<kind>/ as one file per
// process, <pid>.json, written atomically (write, then rename): two proxies overlapping in a
// rolling restart never overwrite each other. A starting proxy reads every file, and keeps
// reading the files other processes write until they exit; files of processes that are gone
// are removed once read. Used for the learned DNS names (fqdn-state.ts) and the learned
// Kafka topic IDs (topic-id-state.ts); what a file holds is its user's to validate.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface LoadedStates<T> {
  /** Each readable file's content, as `validate` returned it. */
  states: T[];
  /** One line per file that could not be read or validated: "<path>: <why>". */
  problems: string[];
}

export class ProcessStateFiles {
  readonly dir: string;
  readonly #own: string;
  #watcher: FSWatcher | null = null;

  constructor(
    stateDir: string,
    kind: string,
    private readonly pid = process.pid,
    /** A file larger than this is reported and not read (a bounded reader, whatever is on disk). */
    private readonly maxFileBytes = 64 * 1024 * 1024,
  ) {
    this.dir = join(stateDir, kind);
    this.#own = join(this.dir, `${pid}.json`);
    mkdirSync(this.dir, { recursive: true });
  }

  save(doc: unknown): void {
    const tmp = `${this.#own}.tmp`;
    writeFileSync(tmp, JSON.stringify(doc));
    renameSync(tmp, this.#own);
  }

  /** As save, with the file written off the event loop (the caller keeps one save at a time). */
  async saveAsync(doc: unknown): Promise<void> {
    const tmp = `${this.#own}.tmp`;
    await writeFile(tmp, JSON.stringify(doc));
    await rename(tmp, this.#own);
  }

  /**
   * Every other process's file. `withOwn`: this process's own file too, which before this
   * process first saved is an earlier process's that had the same pid (in a container the
   * proxy often has the same pid every time it starts).
   */
  load<T>(validate: (doc: unknown) => T, withOwn = false): LoadedStates<T> {
    const states: T[] = [];
    const problems: string[] = [];
    let files: string[] = [];
    try {
      files = readdirSync(this.dir);
    } catch (err) {
      return { states, problems: [`${this.dir}: ${(err as Error).message}`] };
    }
    for (const f of files) {
      const m = /^(\d+)\.json$/.exec(f);
      if (m === null) continue;
      const own = Number(m[1]) === this.pid;
      if (own && !withOwn) continue;
      const path = join(this.dir, f);
      try {
        const size = statSync(path).size;
        if (size > this.maxFileBytes) throw new Error(`${size} bytes, over the ${this.maxFileBytes}-byte limit`);
        states.push(validate(JSON.parse(readFileSync(path, "utf8"))));
      } catch (err) {
        problems.push(`${path}: ${(err as Error).message}`);
      }
      if (!own && !alive(Number(m[1]))) rmSync(path, { force: true });
    }
    return { states, problems };
  }

  /** Calls `onChange` when another process writes its file. */
  watch(onChange: () => void): void {
    this.#watcher = watch(this.dir, (_event, file) => {
      if (typeof file === "string" && /^\d+\.json$/.test(file) && file !== `${this.pid}.json`) onChange();
    });
    this.#watcher.on("error", () => {});
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
