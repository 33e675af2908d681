// The in-order exchange queue, for every request/response protocol whose answers come back
// in request order on one connection (HTTP/1.1, Kafka). Every decided request waits here in
// arrival order until its answer is fully written: a local reply (a denial, an error) is
// written when it reaches the front, so it slots in between the upstream's answers exactly
// where its request was. It bounds how many requests are decided ahead of their answers
// (pipelining): past the bound it asks the host to stop reading from the client, and to go
// on once there is room again.
//
// The queue owns order and the bound; the host owns the sockets: it writes the replies, reports
// finished exchanges, pauses and resumes reads, and decides what an empty queue means (close
// once the client is done, or drain).

/** What the queue needs of an exchange: whether the proxy answers it itself. */
export interface QueuedExchange {
  /** The reply the proxy writes itself; null while the upstream is to answer. */
  local: Buffer | null;
  /** Close the client connection once this exchange is answered. */
  closeAfter: boolean;
}

export interface ExchangeQueueHost<E extends QueuedExchange> {
  /** Writes a local reply to the client (backpressure is the host's). */
  writeLocal(ex: E): void;
  /** An exchange is fully answered (report it: metrics, flow record). */
  finished(ex: E): void;
  /** The queue is at its bound: stop reading requests from the client. */
  pauseReads(): void;
  /** There is room again. */
  resumeReads(): void;
  /** The answered exchange said to close the connection after it. */
  closeAfter(ex: E): void;
  /** Nothing is left to answer. */
  idle(): void;
}

export class ExchangeQueue<E extends QueuedExchange> {
  private readonly items: E[] = [];
  private paused = false;

  constructor(
    private readonly host: ExchangeQueueHost<E>,
    readonly maxPending: number,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** The oldest exchange not yet answered. */
  front(): E | undefined {
    return this.items[0];
  }

  /** The newest exchange. */
  back(): E | undefined {
    return this.items[this.items.length - 1];
  }

  get full(): boolean {
    return this.items.length >= this.maxPending;
  }

  /** Adds a decided exchange; answers what is at the front if the proxy answers it itself. */
  push(ex: E): void {
    this.items.push(ex);
    if (this.items.length === 1) this.answerLocals();
    if (this.items.length >= this.maxPending && !this.paused) {
      this.paused = true;
      this.host.pauseReads();
    }
  }

  /** The upstream has answered the front exchange in full. */
  completeFront(): void {
    const ex = this.items.shift();
    if (ex === undefined) return;
    this.host.finished(ex);
    if (ex.closeAfter) {
      this.host.closeAfter(ex);
      return;
    }
    this.answerLocals();
  }

  /** Takes every exchange out unanswered (the connection died): each is reported once. */
  abandon(): E[] {
    const all = this.items.splice(0);
    for (const ex of all) this.host.finished(ex);
    return all;
  }

  /** Writes the local replies now at the front; stops at the first the upstream must answer. */
  private answerLocals(): void {
    for (;;) {
      const ex = this.items[0];
      if (ex === undefined) {
        this.roomAgain();
        this.host.idle();
        return;
      }
      if (ex.local === null) {
        this.roomAgain();
        return;
      }
      this.items.shift();
      this.host.writeLocal(ex);
      this.host.finished(ex);
      if (ex.closeAfter) {
        this.host.closeAfter(ex);
        return;
      }
    }
  }

  private roomAgain(): void {
    if (this.paused && this.items.length < this.maxPending) {
      this.paused = false;
      this.host.resumeReads();
    }
  }
}
