// Evaluation counts on the ledger (docs/oprf.md, "Evaluation counts on the ledger"). This
// evaluator tallies what it answered per (requesting member, BIN) and publication bucket
// (counts.bucketSeconds of the oprf section), written behind like the budget counts; once a
// bucket has closed it signs its coarsened counts into its own feed (nothing when nothing reached
// the floor) and marks the bucket decided. Restart-safe: a bucket is decided when marked or when
// this evaluator's own rows for it are stored, which happens in the transaction that stores the
// entry, so a bucket is neither published twice nor lost across a restart.
import type { Logger } from 'pino';
import type { OprfCountSettings } from '../config/schemas';
import { coarsenCounts, type ValidOprfEvaluationCounts } from '../ledger/oprf-counts';
import type { OprfCountStore, TallyRow } from '../store/oprf-count-store';
import { NextTurnWrite } from './next-turn';

export const DEFAULT_COUNT_SETTINGS: OprfCountSettings = { floor: 64, alertThreshold: 4_096, bucketSeconds: 3_600 };

export interface CountPublisherDeps {
  member: string;
  store: OprfCountStore;
  /** The counts settings of the oprf section in force, or undefined without one. */
  settings(): OprfCountSettings | undefined;
  /** Signs entries into this member's feed (exchange/reports.ts); resolves once they commit. */
  publish(entries: readonly ValidOprfEvaluationCounts[]): Promise<void>;
  log: Logger;
  clock?: () => number;
}

export class EvaluationCountPublisher {
  private pending = new Map<string, TallyRow>();
  private readonly nextTurn = new NextTurnWrite(() => this.flush());
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly clock: () => number;
  readonly counters = { published: 0, entries: 0 };

  constructor(private readonly deps: CountPublisherDeps) {
    this.clock = deps.clock ?? Date.now;
  }

  /** Counts a request this evaluator answered (after its budgets were reserved). */
  add(member: string, bins: readonly string[]): void {
    const settings = this.deps.settings();
    if (!settings) return;
    const bucketMs = settings.bucketSeconds * 1000;
    const bucketStartMs = Math.floor(this.clock() / bucketMs) * bucketMs;
    for (const bin of bins) {
      const key = `${bucketStartMs}\0${settings.bucketSeconds}\0${member}\0${bin}`;
      const row = this.pending.get(key);
      if (row) row.count++;
      else this.pending.set(key, { bucketStartMs, bucketSeconds: settings.bucketSeconds, member, bin, count: 1 });
    }
    this.nextTurn.request();
  }

  /** Writes the tally not yet written, in one transaction; on failure it stays for the next try. */
  flush(): void {
    this.nextTurn.cancel();
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    try {
      this.deps.store.addTally(rows);
      this.pending = new Map();
    } catch (error) {
      this.deps.log.error({ err: error }, 'evaluation count tally could not be written; kept in memory and retried');
    }
  }

  /** Publishes closed buckets now and then every interval (a quarter bucket, 0.5 s to 60 s). */
  start(): void {
    const settings = this.deps.settings() ?? DEFAULT_COUNT_SETTINGS;
    const intervalMs = Math.min(60_000, Math.max(500, (settings.bucketSeconds * 1000) / 4));
    const tick = () => void this.publishClosed().catch((error: unknown) => this.deps.log.warn({ err: error }, 'evaluation counts not published yet; retried'));
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }

  /** Publishes every closed bucket not yet decided, oldest first. One run at a time. */
  publishClosed(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async run(): Promise<void> {
    this.flush();
    const { store, member, log } = this.deps;
    const settings = this.deps.settings();
    if (!settings) return;
    for (const bucket of store.closedBuckets(this.clock())) {
      if (store.isDecided(member, bucket.bucketStartMs, bucket.bucketSeconds)) {
        store.markDecided(bucket.bucketStartMs, bucket.bucketSeconds, this.clock(), 0);
        continue;
      }
      const chunks = coarsenCounts(store.bucketTally(bucket.bucketStartMs, bucket.bucketSeconds), settings.floor);
      if (chunks.length > 0) {
        const entries = chunks.map((counts) => ({ ...bucket, floor: settings.floor, counts }));
        await this.deps.publish(entries);
        this.counters.published++;
        this.counters.entries += entries.length;
        log.info({ bucketStartMs: bucket.bucketStartMs, bucketSeconds: bucket.bucketSeconds, rows: chunks.reduce((n, c) => n + c.length, 0), entries: entries.length }, 'evaluation counts published');
      }
      store.markDecided(bucket.bucketStartMs, bucket.bucketSeconds, this.clock(), chunks.reduce((n, c) => n + c.length, 0));
    }
  }
}
