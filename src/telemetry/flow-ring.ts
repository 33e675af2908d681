// The last N flow records, in memory, for /flows; followers get each new record as it is
// added. Fixed capacity: pushing overwrites the oldest, so memory stays bounded however
// long the proxy runs.

import type { FlowRecord } from "./flow-record.js";
import { matchesFlow, type FlowFilter } from "./flow-filter.js";

export type FlowListener = (record: FlowRecord) => void;

export class FlowRing {
  private readonly slots: (FlowRecord | undefined)[];
  /** Index the next record goes to. */
  private next = 0;
  private count = 0;
  private readonly listeners = new Set<FlowListener>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<FlowRecord | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  push(record: FlowRecord): void {
    this.slots[this.next] = record;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    for (const l of this.listeners) {
      try {
        l(record);
      } catch {
        // A broken follower must never break the data path that pushed the record.
        this.listeners.delete(l);
      }
    }
  }

  /** Matching records, oldest first; with `last`, only the newest `last` of them. */
  recent(filter: FlowFilter = {}, last?: number): FlowRecord[] {
    const out: FlowRecord[] = [];
    const limit = last ?? Infinity;
    // Walk newest to oldest so `last` stops early, then put them back in time order.
    for (let i = 0; i < this.count && out.length < limit; i++) {
      const idx = (this.next - 1 - i + this.capacity) % this.capacity;
      const r = this.slots[idx]!;
      if (matchesFlow(r, filter)) out.push(r);
    }
    return out.reverse();
  }

  /** Calls `listener` for every record pushed from now on; returns the unsubscribe function. */
  subscribe(listener: FlowListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  get followers(): number {
    return this.listeners.size;
  }
}
