// What the node reports as it works, for metrics. Observers run synchronously on the hot
// path: they must be cheap (a counter increment), never throw, and never see a selector.
export interface NodeObserver {
  /** One Check call: how many selectors, how many were listed, how long the node took. */
  checked?(selectors: number, hits: number, seconds: number): void;
  /** One committed Publish: indicators accepted into a new entry, and duplicates skipped. */
  published?(accepted: number, duplicates: number): void;
}
