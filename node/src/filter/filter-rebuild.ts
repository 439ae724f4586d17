// Rebuilds the Bloom filter with a larger capacity without stopping checks: the digests
// are read page by page between other work, while new selectors go to both filters.
import { DigestBloomFilter } from './digest-bloom';
import type { LedgerStore } from '../store/ledger-store';

const PAGE = 50_000;

export class BackgroundFilterRebuild {
  readonly target: DigestBloomFilter;
  private after: Buffer = Buffer.alloc(0);
  private cancelled = false;

  /**
   * The caller pauses merges of recent selectors until done() or failed() is called, so no
   * row moves behind the page cursor; recent selectors are read in full at the end.
   */
  constructor(
    private readonly store: LedgerStore,
    capacity: number,
    targetFpRate: number,
    private readonly done: (filter: DigestBloomFilter) => void,
    private readonly failed: (error: unknown) => void,
  ) {
    this.target = DigestBloomFilter.forCapacity(capacity, targetFpRate);
  }

  start(): void {
    setImmediate(() => this.step());
  }

  /** A selector committed while the rebuild runs. */
  add(digest: Buffer): void {
    this.target.add(digest);
  }

  cancel(): void {
    this.cancelled = true;
  }

  private step(): void {
    if (this.cancelled) return;
    try {
      const page = this.store.mainDigestsAfter(this.after, PAGE);
      for (const digest of page) this.target.add(digest);
      if (page.length === PAGE) {
        this.after = page[page.length - 1] as Buffer;
        setImmediate(() => this.step());
        return;
      }
      for (const digest of this.store.recentDigests()) this.target.add(digest);
      this.done(this.target);
    } catch (error) {
      this.failed(error);
    }
  }
}
