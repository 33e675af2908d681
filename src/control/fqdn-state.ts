// Learned DNS names on disk, so a restarted proxy keeps allowing what the pods resolved
// before (cilium/cilium #21059, #29508: connections made from an answer given before a
// restart must keep working): <state-dir>/fqdn/<pid>.json, one file per process
// (process-state-files.ts: atomic writes, every other process's file read, and followed
// until that process exits).

import net from "node:net";
import type { LearnedName } from "../datapath/dns/fqdn-cache.js";
import { ProcessStateFiles } from "./process-state-files.js";

interface StateFile {
  version: 1;
  names: LearnedName[];
}

export class FqdnStateDir {
  readonly #files: ProcessStateFiles;

  constructor(stateDir: string, pid = process.pid) {
    this.#files = new ProcessStateFiles(stateDir, "fqdn", pid);
  }

  get dir(): string {
    return this.#files.dir;
  }

  save(names: readonly LearnedName[]): void {
    this.#files.save({ version: 1, names: [...names] } satisfies StateFile);
  }

  /**
   * Every other process's names; files of processes no longer running are removed after
   * reading. `withOwn`: this pid's file too (before this process first saves, it is an
   * earlier process's that had the same pid, as a container's proxy often has).
   */
  loadOthers(withOwn = false): { names: LearnedName[]; problems: string[] } {
    const { states, problems } = this.#files.load(validate, withOwn);
    return { names: states.flat(), problems };
  }

  /** Calls `onChange` when another process writes its file. */
  watch(onChange: () => void): void {
    this.#files.watch(onChange);
  }

  close(): void {
    this.#files.close();
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
