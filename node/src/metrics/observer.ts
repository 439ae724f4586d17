// What the node reports as it works, for metrics. Observers run synchronously on the hot
// path: they must be cheap (a counter increment), never throw, and never see a selector.
// The node object and the gRPC servers tell one NodeEvents hub; metrics subscribe to it.

export type RateLimitScope = 'checks' | 'publications' | 'fetches' | 'heads' | 'consortium';
export const RATE_LIMIT_SCOPES: readonly RateLimitScope[] = ['checks', 'publications', 'fetches', 'heads', 'consortium'];

/** Why a member-local call failed authentication (rpc/auth.ts): the label of its count in status and metrics. */
export type AuthFailureReason = 'missing' | 'duplicate' | 'malformed' | 'unknown_token' | 'missing_scope';
export const AUTH_FAILURE_REASONS: readonly AuthFailureReason[] = ['missing', 'duplicate', 'malformed', 'unknown_token', 'missing_scope'];

export interface NodeObserver {
  /** One Check call: how many selectors, how many were listed, how long the node took. */
  checked?(selectors: number, hits: number, seconds: number): void;
  /** One committed Publish: indicators accepted into a new entry, and duplicates skipped. */
  published?(accepted: number, duplicates: number): void;
  /** A call (or its items) refused by a rate limit of this scope. */
  rateLimited?(scope: RateLimitScope): void;
  /** A server stream reset because its client stopped reading. */
  streamReset?(): void;
  /** A member-local call refused by authentication (a reason from rpc/auth.ts; never the token). */
  authFailed?(reason: AuthFailureReason): void;
}

/** The events of one node, passed on to every observer subscribed. */
export class NodeEvents implements Required<NodeObserver> {
  private readonly observers = new Set<NodeObserver>();
  /** Running totals since the node opened, for what is read at scrape time rather than counted by a subscriber. */
  readonly totals = {
    rateLimited: { checks: 0, publications: 0, fetches: 0, heads: 0, consortium: 0 } as Record<RateLimitScope, number>,
    streamResets: 0,
    /** Failed authentications by reason (rpc/auth.ts AUTH_FAILURE_REASONS). */
    authFailures: {} as Record<string, number>,
  };

  /** Subscribes an observer; returns the unsubscribe. */
  observe(observer: NodeObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Whether anyone listens (the check path skips timing when no one does). */
  get observed(): boolean {
    return this.observers.size > 0;
  }

  checked(selectors: number, hits: number, seconds: number): void {
    for (const o of this.observers) o.checked?.(selectors, hits, seconds);
  }

  published(accepted: number, duplicates: number): void {
    for (const o of this.observers) o.published?.(accepted, duplicates);
  }

  rateLimited(scope: RateLimitScope): void {
    this.totals.rateLimited[scope]++;
    for (const o of this.observers) o.rateLimited?.(scope);
  }

  streamReset(): void {
    this.totals.streamResets++;
    for (const o of this.observers) o.streamReset?.();
  }

  authFailed(reason: AuthFailureReason): void {
    this.totals.authFailures[reason] = (this.totals.authFailures[reason] ?? 0) + 1;
    for (const o of this.observers) o.authFailed?.(reason);
  }
}
