// Token-bucket rate limits, one bucket per authenticated caller (a client token's digest, or a
// peer's member id) and scope. The hot path allocates nothing: a Map lookup, a refill, a
// subtraction; an error object only when a call is refused. Callers are authenticated before
// they reach a bucket, so the buckets are bounded by the tokens and members configured.
import { MamoriError } from '../ledger/errors';
import type { RateLimitScope } from '../metrics/observer';

export { RATE_LIMIT_SCOPES, type RateLimitScope } from '../metrics/observer';

export interface RateSettings {
  perSecond: number;
  burst: number;
}

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(
    private readonly burst: number,
    perSecond: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
    this.perMs = perSecond / 1000;
  }

  /** Takes n tokens if there are that many (all or nothing). */
  take(n: number, now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
      this.last = now;
    }
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  /** `what` names the unit in the refusal: "rate limit: N per second for <what>"; `observer` is told of each refusal (metrics). */
  constructor(
    private readonly observer: { rateLimited(scope: RateLimitScope): void },
    readonly scope: RateLimitScope,
    readonly settings: RateSettings,
    private readonly what: string,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes n from the caller's bucket, or throws RESOURCE_EXHAUSTED and counts the refusal. */
  take(caller: string, n = 1): void {
    const now = this.clock();
    let bucket = this.buckets.get(caller);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.settings.burst, this.settings.perSecond, now);
      this.buckets.set(caller, bucket);
    }
    if (bucket.take(n, now)) return;
    this.observer.rateLimited(this.scope);
    const { perSecond, burst } = this.settings;
    const tooBig = n > burst ? `; a request of ${n} is more than the burst of ${burst} and is never accepted` : '';
    throw new MamoriError('RESOURCE_EXHAUSTED', `rate limit: ${perSecond} per second for ${this.what}${tooBig}`);
  }
}
