// Keeps the lookup side of the ledger healthy: the Bloom filter (its snapshot, its growth
// when over capacity) and the merge of recently stored selectors into the large table.
import type { Logger } from 'pino';
import { EventEmitter } from 'node:events';
import type { BloomParams, DigestBloomFilter } from './digest-bloom';
import { writeSnapshot } from './snapshot';
import type { LedgerStore } from '../store/ledger-store';
import { BackgroundFilterRebuild } from './filter-rebuild';
import { capacityFor, snapshotFile, type FilterSettings } from './filter-loader';

export interface SelectorIndexEvents {
  /** The filter was replaced (grown); copies of the old one must be reloaded. */
  replaced: [];
}

export class SelectorIndex extends EventEmitter<SelectorIndexEvents> {
  private dirty: boolean;
  private rebuild: BackgroundFilterRebuild | undefined;
  private readonly snapshotTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private filter: DigestBloomFilter,
    private readonly store: LedgerStore,
    private readonly settings: FilterSettings & { dataDir: string; snapshotIntervalMs: number; snapshotKey?: Uint8Array },
    private readonly log: Logger,
    snapshotMatchesLedger: boolean,
  ) {
    super();
    this.setMaxListeners(0);
    this.dirty = !snapshotMatchesLedger;
    this.snapshotTimer = setInterval(() => this.snapshotIfDirty(), settings.snapshotIntervalMs);
    this.snapshotTimer.unref();
  }

  /** False means certainly not stored; true means look in SQLite. */
  mayContain(digest: Buffer): boolean {
    return this.filter.has(digest);
  }

  /** mayContain() of the digest at `offset` of packed digests, read in place. */
  mayContainAt(digests: Uint8Array, offset: number): boolean {
    return this.filter.hasAt(digests, offset);
  }

  /** Selectors of a committed transaction. */
  added(digests: Iterable<Buffer>): void {
    for (const digest of digests) {
      this.filter.add(digest);
      this.rebuild?.add(digest);
    }
    this.dirty = true;
    if (this.filter.overCapacity() && !this.rebuild) this.startRebuild();
    if (this.store.mergeDue(this.filter.items)) setImmediate(() => this.mergeSelectors());
  }

  /** A copy of the filter's bits and parameters, for a client's mirror. */
  copy(): { params: BloomParams; items: number; bits: Buffer } {
    return { params: this.filter.params, items: this.filter.items, bits: Buffer.from(this.filter.bitsetBytes()) };
  }

  status() {
    const f = this.filter;
    return {
      bits: f.params.bits,
      hashes: f.params.hashes,
      capacity: f.params.capacity,
      items: f.items,
      fill: f.fill(),
      estimatedFpRate: f.estimatedFpRate(),
      targetFpRate: f.params.targetFpRate,
    };
  }

  private startRebuild(): void {
    const capacity = capacityFor(this.settings, this.filter.items);
    const started = Date.now();
    this.log.info({ items: this.filter.items, capacity }, 'filter over capacity: rebuilding in the background');
    this.rebuild = new BackgroundFilterRebuild(
      this.store,
      capacity,
      this.settings.targetFpRate,
      (filter) => {
        this.filter = filter;
        this.rebuild = undefined;
        this.dirty = true;
        this.log.info({ capacity, ms: Date.now() - started }, 'filter rebuilt with a larger capacity');
        this.emit('replaced');
        if (this.store.mergeDue(this.filter.items)) setImmediate(() => this.mergeSelectors());
      },
      (error) => {
        this.rebuild = undefined;
        this.log.error({ err: error }, 'filter rebuild failed; the current filter stays (checks remain exact, only slower on misses)');
      },
    );
    this.rebuild.start();
  }

  private mergeSelectors(): void {
    // A rebuild pages through the large table by digest: no rows may move into it meanwhile.
    if (this.closed || this.rebuild || !this.store.mergeDue(this.filter.items)) return;
    const started = Date.now();
    try {
      const moved = this.store.mergeRecentSelectors();
      this.log.info({ selectors: moved, ms: Date.now() - started }, 'recent selectors merged');
    } catch (error) {
      this.log.warn({ err: error }, 'merging recent selectors failed; will retry after the next write');
    }
  }

  private snapshotIfDirty(): void {
    if (!this.dirty || this.closed) return;
    try {
      const position = this.store.maxEntryId();
      writeSnapshot(snapshotFile(this.settings.dataDir), this.filter, position, this.store.entryHashById(position), this.settings.snapshotKey);
      this.dirty = false;
    } catch (error) {
      this.log.warn({ err: error }, 'filter snapshot could not be written; it will be retried');
    }
  }

  /** Writes a last snapshot; call before the store closes. */
  close(): void {
    if (this.closed) return;
    this.snapshotIfDirty();
    this.closed = true;
    this.rebuild?.cancel();
    clearInterval(this.snapshotTimer);
  }
}
