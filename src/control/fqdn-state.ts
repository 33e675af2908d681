// Learned DNS names on disk, so a restarted proxy keeps allowing what the pods resolved
// before (cilium/cilium #21059, #29508: connections made from an answer given before a
// restart must keep working). Each process writes its own file, <state-dir>/fqdn/<pid>.json,
// atomically (write, then rename), so two proxies overlapping in a rolling restart never
// overwrite each other; a starting proxy reads every file, and keeps reading the files the
// other process writes until that one exits. Files of processes that are gone are removed
// once read.

import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import type { LearnedName } from "../datapath/dns/fqdn-cache.js";

interface StateFile {
  version: 1;
  names: LearnedName[];
}

export class FqdnStateDir {
  readonly dir: string;
  readonly #own: string;
  #watcher: FSWatcher | null = null;

  constructor(stateDir: string, private readonly pid = process.pid) {
    this.dir = join(stateDir, "fqdn");
    this.#own = join(this.dir, `${pid}.json`);
    mkdirSync(this.dir, { recursive: true });
  }

  save(names: readonly LearnedName[]): void {
    const tmp = `${this.#own}.tmp`;
    writeFileSync(tmp, JSON.stringify({ version: 1, names: [...names] } satisfies StateFile));
    renameSync(tmp, this.#own);
  }

  /** Every other process's names; files of processes no longer running are removed after reading. */
  loadOthers(): { names: LearnedName[]; problems: string[] } {
    const names: LearnedName[] = [];
    const problems: string[] = [];
    let files: string[] = [];
    try {
      files = readdirSync(this.dir);
    } catch (err) {
      return { names, problems: [`${this.dir}: ${(err as Error).message}`] };
    }
    for (const f of files) {
      const m = /^(\d+)\.json$/.exec(f);
      if (m === null || Number(m[1]) === this.pid) continue;
      const path = join(this.dir, f);
      try {
        names.push(...validate(JSON.parse(readFileSync(path, "utf8"))));
      } catch (err) {
        problems.push(`${path}: ${(err as Error).message}`);
      }
      if (!alive(Number(m[1]))) rmSync(path, { force: true });
    }
    return { names, problems };
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

/** Only well-formed entries come in: a damaged file must not allow anything it does not name. */
function validate(doc: unknown): LearnedName[] {
  const d = doc as Partial<StateFile> | null;
  if (d === null || typeof d !== "object" || d.version !== 1 || !Array.isArray(d.names)) throw new Error("not an l7proxy FQDN state file (version 1)");
  const out: LearnedName[] = [];
  for (const n of d.names) {
    if (typeof n?.name !== "string" || !/^[-a-z0-9_.]+$/.test(n.name) || !Array.isArray(n.ips)) continue;
    const ips = n.ips.filter((e) => typeof e?.ip === "string" && net.isIP(e.ip) !== 0 && Number.isFinite(e.expiresAtMs));
    if (ips.length > 0) out.push({ name: n.name, ips: ips.map((e) => ({ ip: e.ip, expiresAtMs: e.expiresAtMs })) });
  }
  return out;
}
