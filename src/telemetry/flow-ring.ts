// The last N flow records, in memory, for /flows; followers get each new record as it is
// added. Fixed capacity: pushing overwrites the oldest, so memory stays bounded however
// long the proxy runs.
//
// A slot may hold what a record is made from (a RecordSource) instead of the record: a
// record is a tree of some fifteen objects, and a ring of thousands of them lives long
// enough to be copied by every young-generation GC and promoted, which showed as
// milliseconds-long pauses under load. The source is one object referring to data that
// lives anyway (the connection's flow verdict, the request's strings); the record is built
// when someone reads it (/flows, followers), which is rare next to writing.

import type { FlowRecord } from "./flow-record.js";
import { matchesFlow, type FlowFilter } from "./flow-filter.js";

export type FlowListener = (record: FlowRecord) => void;

/** Builds a record on demand; must return an equal record every time. */
export interface RecordSource {
  build(): FlowRecord;
}

type Slot = FlowRecord | RecordSource;

function materialize(slot: Slot): FlowRecord {
  return typeof (slot as Partial<RecordSource>).build === "function" ? (slot as RecordSource).build() : (slot as FlowRecord);
}

export class FlowRing {
  private readonly slots: (Slot | undefined)[];
  /** Index the next record goes to. */
  private next = 0;
  private count = 0;
  private readonly listeners = new Set<FlowListener>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<Slot | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Adds a record, or what it is built from (built now only if someone follows). */
  push(entry: FlowRecord | RecordSource): void {
    this.slots[this.next] = entry;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    if (this.listeners.size === 0) return;
    const record = materialize(entry);
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
      const r = materialize(this.slots[idx]!);
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
