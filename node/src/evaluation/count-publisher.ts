// Evaluation counts on the ledger (docs/oprf.md, "Evaluation counts on the ledger"). This
// evaluator tallies what it answered per (requesting member, BIN) and publication bucket
// (counts.bucketSeconds of the oprf section), written behind like the budget counts; once a
// bucket has closed it signs its coarsened counts into its own feed (nothing when nothing reached
// the floor) and marks the bucket decided. A (member, BIN) whose count reaches the alert
// threshold while its bucket is still open is reported at once, and again at each doubling of
// its band, so that an enumeration is seen within seconds rather than at the bucket's end.
// Restart-safe: a bucket is decided when marked or when this evaluator's own stored rows (written
// in the transaction that stores the entry) already give every row of its final counts, so a
// bucket is neither published twice nor lost across a restart.
import type { Logger } from 'pino';
import type { OprfCountSettings } from '../config/schemas';
import { coarsenCounts, countBand, type OprfCountRow, type ValidOprfEvaluationCounts } from '../ledger/oprf-counts';
import type { OprfCountStore, TallyRow } from '../store/oprf-count-store';
import { binInRanges } from './budget';
import { NextTurnWrite } from './next-turn';

export const DEFAULT_COUNT_SETTINGS: OprfCountSettings = { floor: 64, alertThreshold: 4_096, bucketSeconds: 3_600 };

export interface CountPublisherDeps {
  member: string;
  store: OprfCountStore;
  /** The counts settings of the oprf section in force, or undefined without one. */
  settings(): OprfCountSettings | undefined;
  /** Signs entries into this member's feed (exchange/reports.ts); resolves once they commit. */
  publish(entries: readonly ValidOprfEvaluationCounts[]): Promise<void>;
  /** A member's BIN ranges in the consortium file in force: counts inside them raise no alert, so they wait for the bucket's end. */
  binRangesOf(member: string): readonly string[];
  log: Logger;
  clock?: () => number;
}

export class EvaluationCountPublisher {
  private pending = new Map<string, TallyRow>();
  private readonly nextTurn = new NextTurnWrite(() => this.flush());
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private runAgain = false;
  /** Open-bucket rows due for an early report, keyed bucket\0seconds\0member\0bin. */
  private earlyDue = new Map<string, { bucketStartMs: number; bucketSeconds: number; row: OprfCountRow }>();
  /** The highest band reported so far per open-bucket row (same keys); rebuilt from stored rows after a restart. */
  private readonly earlyReported = new Map<string, number>();
  private readonly clock: () => number;
  readonly counters = { published: 0, entries: 0, early: 0 };

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
      return;
    }
    if (this.noteEarly(rows)) void this.publishClosed().catch((error: unknown) => this.deps.log.warn({ err: error }, 'evaluation counts not published yet; retried'));
  }

  /**
   * Marks for an early report each just-tallied row of an open bucket whose count now reaches
   * the alert threshold at a band higher than already reported. Returns whether any is due.
   */
  private noteEarly(rows: readonly TallyRow[]): boolean {
    const settings = this.deps.settings();
    if (!settings) return false;
    const nowMs = this.clock();
    let due = false;
    for (const r of rows) {
      if (r.bucketStartMs + r.bucketSeconds * 1000 <= nowMs) continue; // closed: the final report follows
      if (binInRanges(r.bin, this.deps.binRangesOf(r.member))) continue;
      const band = countBand(this.deps.store.tallyOf(r.bucketStartMs, r.bucketSeconds, r.member, r.bin), settings.floor);
      if (band === undefined || band < settings.alertThreshold) continue;
      const key = `${r.bucketStartMs}\0${r.bucketSeconds}\0${r.member}\0${r.bin}`;
      if (band <= this.reportedBand(key, r)) continue;
      this.earlyDue.set(key, { bucketStartMs: r.bucketStartMs, bucketSeconds: r.bucketSeconds, row: { member: r.member, bin: r.bin, band } });
      due = true;
    }
    return due;
  }

  private reportedBand(key: string, r: TallyRow): number {
    let band = this.earlyReported.get(key);
    if (band === undefined) {
      band = this.deps.store.ownBands(this.deps.member, r.bucketStartMs, r.bucketSeconds).get(`${r.member}\0${r.bin}`) ?? 0;
      this.earlyReported.set(key, band);
    }
    return band;
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

  /** Publishes every closed bucket not yet decided, oldest first, then the early reports due. One run at a time. */
  publishClosed(): Promise<void> {
    if (this.running) {
      this.runAgain = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.runAgain = false;
        await this.run();
      } while (this.runAgain);
    })().finally(() => {
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
      const chunks = coarsenCounts(store.bucketTally(bucket.bucketStartMs, bucket.bucketSeconds), settings.floor);
      if (!store.isMarkedDecided(bucket.bucketStartMs, bucket.bucketSeconds) && !this.alreadyPublished(bucket, chunks)) {
        if (chunks.length > 0) {
          const entries = chunks.map((counts) => ({ ...bucket, floor: settings.floor, counts }));
          await this.deps.publish(entries);
          this.counters.published++;
          this.counters.entries += entries.length;
          log.info({ bucketStartMs: bucket.bucketStartMs, bucketSeconds: bucket.bucketSeconds, rows: chunks.reduce((n, c) => n + c.length, 0), entries: entries.length }, 'evaluation counts published');
        }
      }
      store.markDecided(bucket.bucketStartMs, bucket.bucketSeconds, this.clock(), chunks.reduce((n, c) => n + c.length, 0));
      this.forgetEarly(bucket);
    }
    await this.publishEarly(settings.floor);
  }

  /**
   * Whether this evaluator's stored rows already give every final row of a bucket at its band:
   * its final entry committed before a crash kept it from marking the bucket, or its early
   * reports said all there is. A bucket with nothing to publish is never "already published".
   */
  private alreadyPublished(bucket: { bucketStartMs: number; bucketSeconds: number }, chunks: readonly OprfCountRow[][]): boolean {
    if (chunks.length === 0) return false;
    const own = this.deps.store.ownBands(this.deps.member, bucket.bucketStartMs, bucket.bucketSeconds);
    return chunks.every((chunk) => chunk.every((row) => (own.get(`${row.member}\0${row.bin}`) ?? 0) >= row.band));
  }

  /** Signs the early reports due, one entry per bucket; on failure they stay due for the next run. */
  private async publishEarly(floor: number): Promise<void> {
    if (this.earlyDue.size === 0) return;
    const due = this.earlyDue;
    this.earlyDue = new Map();
    const byBucket = new Map<string, ValidOprfEvaluationCounts>();
    for (const d of due.values()) {
      const bucketKey = `${d.bucketStartMs}\0${d.bucketSeconds}`;
      let entry = byBucket.get(bucketKey);
      if (!entry) byBucket.set(bucketKey, (entry = { bucketStartMs: d.bucketStartMs, bucketSeconds: d.bucketSeconds, floor, counts: [] }));
      entry.counts.push(d.row);
    }
    // Bands are powers of two already: coarsening only orders the rows and splits them into entries.
    const entries = [...byBucket.values()].flatMap((e) => coarsenCounts(e.counts.map((r) => ({ member: r.member, bin: r.bin, count: r.band })), floor).map((counts) => ({ ...e, counts })));
    try {
      await this.deps.publish(entries);
    } catch (error) {
      for (const [key, d] of due) if (!this.earlyDue.has(key)) this.earlyDue.set(key, d);
      throw error;
    }
    for (const [key, d] of due) this.earlyReported.set(key, Math.max(this.earlyReported.get(key) ?? 0, d.row.band));
    this.counters.early += entries.length;
    this.deps.log.info({ entries: entries.length, rows: due.size }, 'evaluation counts past the alert threshold reported before their bucket closed');
  }

  private forgetEarly(bucket: { bucketStartMs: number; bucketSeconds: number }): void {
    const prefix = `${bucket.bucketStartMs}\0${bucket.bucketSeconds}\0`;
    for (const key of this.earlyReported.keys()) if (key.startsWith(prefix)) this.earlyReported.delete(key);
    for (const key of this.earlyDue.keys()) if (key.startsWith(prefix)) this.earlyDue.delete(key);
  }
}
