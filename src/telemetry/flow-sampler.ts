// Decides, before a record is even built, whether it is written. Forwarded records share
// one budget (records per second); denied records first draw on their own reserved budget,
// so they are never rate-limited away below that rate however much forwarded traffic there
// is, and may also use whatever the forwarded budget has left. Whatever is not written is
// counted by the caller (l7proxy_flow_records_total{result="rate_limited"}).

/**
 * A token bucket refilled continuously at `ratePerSecond`, holding at most one second's worth.
 * The caller passes the time (monotonic milliseconds): the data path already has a clock
 * reading per request, and a second one would cost as much as the rest of the decision.
 */
class TokenBucket {
  private tokens: number;
  /** Time of the last refill; NaN until the first take (the bucket starts full). */
  private last = Number.NaN;

  constructor(private readonly ratePerSecond: number) {
    if (!(ratePerSecond >= 0)) throw new RangeError(`rate must be >= 0, got ${ratePerSecond}`);
    this.tokens = ratePerSecond;
  }

  take(t: number): boolean {
    if (this.ratePerSecond === Infinity) return true;
    if (Number.isNaN(this.last)) this.last = t;
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
}

export class FlowSampler {
  private readonly forwarded: TokenBucket;
  private readonly denied: TokenBucket;

  constructor(opts: SamplerOptions) {
    this.forwarded = new TokenBucket(opts.forwardedPerSecond);
    this.denied = new TokenBucket(opts.deniedMinPerSecond);
  }

  /** `now`: monotonic milliseconds. */
  admitForwarded(now: number): boolean {
    return this.forwarded.take(now);
  }

  admitDenied(now: number): boolean {
    return this.denied.take(now) || this.forwarded.take(now);
  }
}
