// Evaluation counts on the ledger (docs/oprf.md): this evaluator's tally per publication bucket,
// the buckets it has decided, and every evaluator's published (banded) rows. Member ids, BINs
// and counts only; never a blinded element.
import type Database from 'better-sqlite3';
import { commitWithoutFsync } from './database';

export interface TallyRow {
  bucketStartMs: number;
  bucketSeconds: number;
  member: string;
  bin: string;
  count: number;
}

export interface PublishedCountRow {
  evaluator: string;
  member: string;
  bin: string;
  bucketStartMs: number;
  bucketSeconds: number;
  band: number;
}

export class OprfCountStore {
  private readonly statements;
  readonly addTally: (rows: readonly TallyRow[]) => void;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      add: db.prepare(
        `INSERT INTO oprf_count_tally (bucket_start_ms, bucket_seconds, member, bin, count) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (bucket_start_ms, bucket_seconds, member, bin) DO UPDATE SET count = count + excluded.count`,
      ),
      closedBuckets: db.prepare(
        `SELECT DISTINCT bucket_start_ms AS bucketStartMs, bucket_seconds AS bucketSeconds FROM oprf_count_tally
         WHERE bucket_start_ms + bucket_seconds * 1000 <= ? ORDER BY bucket_start_ms`,
      ),
      bucketTally: db.prepare('SELECT member, bin, count FROM oprf_count_tally WHERE bucket_start_ms = ? AND bucket_seconds = ?'),
      dropTally: db.prepare('DELETE FROM oprf_count_tally WHERE bucket_start_ms = ? AND bucket_seconds = ?'),
      decided: db.prepare('SELECT 1 FROM oprf_count_decided WHERE bucket_start_ms = ? AND bucket_seconds = ?').pluck(),
      tallyOf: db.prepare('SELECT count FROM oprf_count_tally WHERE bucket_start_ms = ? AND bucket_seconds = ? AND member = ? AND bin = ?').pluck(),
      ownBands: db.prepare(
        `SELECT member, bin, MAX(band) AS band FROM oprf_counts WHERE evaluator = ? AND bucket_start_ms = ? AND bucket_seconds = ?
         GROUP BY member, bin`,
      ),
      markDecided: db.prepare('INSERT OR IGNORE INTO oprf_count_decided (bucket_start_ms, bucket_seconds, decided_at_ms, rows) VALUES (?, ?, ?, ?)'),
      pruneDecided: db.prepare('DELETE FROM oprf_count_decided WHERE bucket_start_ms < ?'),
      // An evaluator may have reported a (member, BIN) of a bucket early and again at its close:
      // the highest band it published stands (counts only grow within a bucket).
      published: db.prepare(
        `SELECT evaluator, member, bin, bucket_start_ms AS bucketStartMs, bucket_seconds AS bucketSeconds, MAX(band) AS band FROM oprf_counts
         WHERE bucket_start_ms >= ? GROUP BY bucket_start_ms, bucket_seconds, member, bin, evaluator
         ORDER BY bucket_start_ms DESC, member, bin, evaluator LIMIT ?`,
      ),
      atLeast: db.prepare(
        `SELECT evaluator, member, bin, bucket_start_ms AS bucketStartMs, bucket_seconds AS bucketSeconds, band FROM oprf_counts
         WHERE bucket_start_ms >= ? AND band >= ? ORDER BY entry_id, idx`,
      ),
    };
    // Written behind on every evaluation: committed without an fsync, like the budget counts.
    this.addTally = (rows: readonly TallyRow[]) =>
      commitWithoutFsync(db, () => {
        for (const r of rows) this.statements.add.run(r.bucketStartMs, r.bucketSeconds, r.member, r.bin, r.count);
      });
  }

  /** Tallied buckets that ended at or before a time, oldest first. */
  closedBuckets(nowMs: number): { bucketStartMs: number; bucketSeconds: number }[] {
    return this.statements.closedBuckets.all(nowMs) as { bucketStartMs: number; bucketSeconds: number }[];
  }

  bucketTally(bucketStartMs: number, bucketSeconds: number): { member: string; bin: string; count: number }[] {
    return this.statements.bucketTally.all(bucketStartMs, bucketSeconds) as { member: string; bin: string; count: number }[];
  }

  /** This evaluator's tally of one (bucket, member, BIN) so far: 0 when none. */
  tallyOf(bucketStartMs: number, bucketSeconds: number, member: string, bin: string): number {
    return (this.statements.tallyOf.get(bucketStartMs, bucketSeconds, member, bin) as number | undefined) ?? 0;
  }

  /** Whether this evaluator marked a bucket decided. */
  isMarkedDecided(bucketStartMs: number, bucketSeconds: number): boolean {
    return this.statements.decided.get(bucketStartMs, bucketSeconds) !== undefined;
  }

  /**
   * The highest band an evaluator's stored entries give each (member, BIN) of a bucket, keyed
   * "member\0bin": its own rows are written in the transaction that stores its entry, so they
   * say what it has published even when a crash came before it marked the bucket.
   */
  ownBands(evaluator: string, bucketStartMs: number, bucketSeconds: number): Map<string, number> {
    const rows = this.statements.ownBands.all(evaluator, bucketStartMs, bucketSeconds) as { member: string; bin: string; band: number }[];
    return new Map(rows.map((r) => [`${r.member}\0${r.bin}`, r.band]));
  }

  /** Marks a bucket decided and drops its tally, in one transaction. */
  markDecided(bucketStartMs: number, bucketSeconds: number, nowMs: number, rows: number): void {
    this.db.transaction(() => {
      this.statements.markDecided.run(bucketStartMs, bucketSeconds, nowMs, rows);
      this.statements.dropTally.run(bucketStartMs, bucketSeconds);
      this.statements.pruneDecided.run(nowMs - 7 * 24 * 3_600_000);
    })();
  }

  /** Every evaluator's published rows of buckets from a time on, newest bucket first. */
  published(sinceMs: number, limit: number): PublishedCountRow[] {
    return this.statements.published.all(sinceMs, limit) as PublishedCountRow[];
  }

  /** Published rows with a band at or above a value, of buckets from a time on. */
  atLeast(sinceMs: number, band: number): PublishedCountRow[] {
    return this.statements.atLeast.all(sinceMs, band) as PublishedCountRow[];
  }
}
