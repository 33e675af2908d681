// The one place the current policy snapshot lives. The control plane swaps in a new,
// fully compiled snapshot with a single reference assignment; the data path reads
// `current` once per connection or request and never sees a half-built state.

import { EventEmitter } from "node:events";
import type { PolicySnapshot } from "../policy/decision.js";

export interface SnapshotInfo {
  revision: number;
  policies: { ref: string; kind: string; source: string }[];
  lastError: string | null;
  loadedAt: string;
}

export class SnapshotHolder extends EventEmitter<{ swap: [PolicySnapshot] }> {
  #current: PolicySnapshot | null = null;
  #info: SnapshotInfo = { revision: 0, policies: [], lastError: null, loadedAt: "" };

  /** Null until the first successful load: callers must fail closed while it is. */
  get current(): PolicySnapshot | null {
    return this.#current;
  }

  get info(): SnapshotInfo {
    return this.#info;
  }

  swap(snapshot: PolicySnapshot, policies: SnapshotInfo["policies"]): void {
    this.#current = snapshot;
    this.#info = { revision: snapshot.revision, policies, lastError: null, loadedAt: new Date().toISOString() };
    this.emit("swap", snapshot);
  }

  /** Records a failed load; the last good snapshot stays in force. */
  rejected(error: string): void {
    this.#info = { ...this.#info, lastError: error };
  }
}
