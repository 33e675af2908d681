// Which streams of one HTTP/2 connection have really received END_STREAM from the peer.
// node:http2 ends a stream's readable side the same way for END_STREAM and for RST_STREAM
// with NO_ERROR (nodejs/node #35209), so a body or response cut short would pass as complete.
// The frame scanner records END_STREAM here before nghttp2 sees the bytes; the stream code
// asks when its readable side ends. Bounded: ids are dropped once asked about, and the oldest
// go first past `max` (streams the session refused are never asked about).

export class EndStreamLedger {
  readonly #ended = new Set<number>();
  readonly #opened = new Set<number>();

  constructor(private readonly max: number) {}

  ended(streamId: number): void {
    this.#ended.add(streamId);
    trim(this.#ended, this.max);
  }

  opened(streamId: number): void {
    this.#opened.add(streamId);
    trim(this.#opened, this.max);
  }

  known(streamId: number): boolean {
    return this.#opened.has(streamId);
  }

  has(streamId: number): boolean {
    return this.#ended.has(streamId);
  }

  /** Whether END_STREAM arrived on the stream; forgets the stream. */
  take(streamId: number): boolean {
    this.#opened.delete(streamId);
    return this.#ended.delete(streamId);
  }
}

function trim(set: Set<number>, max: number): void {
  if (set.size <= max) return;
  // Sets iterate in insertion order, and stream ids only grow: the first is the oldest.
  for (const id of set) {
    set.delete(id);
    if (set.size <= max) return;
  }
}
