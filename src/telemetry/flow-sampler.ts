// Decides, before a record is even built, whether it is written. Forwarded records share
// one budget (records per second); denied records first draw on their own reserved budget,
// so they are never rate-limited away below that rate however much forwarded traffic there
// is, and may also use whatever the forwarded budget has left. Whatever is not written is
// counted by the caller (l7proxy_flow_records_total{result="rate_limited"}).

/** A token bucket refilled continuously at `ratePerSecond`, holding at most one second's worth. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly now: () => number,
  ) {
    if (!(ratePerSecond >= 0)) throw new RangeError(`rate must be >= 0, got ${ratePerSecond}`);
    this.tokens = ratePerSecond;
    this.last = now();
  }

  take(): boolean {
    if (this.ratePerSecond === Infinity) return true;
    const t = this.now();
    if (t > this.last) {
      this.tokens = Math.min(this.ratePerSecond, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
      this.last = t;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}

export interface SamplerOptions {
  /** Most forwarded records written per second; Infinity for all, 0 for none. */
  forwardedPerSecond: number;
  /** Denied records per second that are always written. */
  deniedMinPerSecond: number;
  /** Milliseconds; injectable so tests control time. */
  now?: () => number;
}

export class FlowSampler {
  private readonly forwarded: TokenBucket;
  private readonly denied: TokenBucket;

  constructor(opts: SamplerOptions) {
    const now = opts.now ?? Date.now;
    this.forwarded = new TokenBucket(opts.forwardedPerSecond, now);
    this.denied = new TokenBucket(opts.deniedMinPerSecond, now);
  }

  admitForwarded(): boolean {
    return this.forwarded.take();
  }

  admitDenied(): boolean {
    return this.denied.take() || this.forwarded.take();
  }
}
