// Card-testing reports as detection reads them, and this member's alerts: an alert's id is
// a subscriber's resume cursor. Pages are read with .all(), so no read stays open while a
// slow subscriber is written to.
import type Database from 'better-sqlite3';

export interface StoredAlert {
  id: number;
  kind: string;
  createdAtMs: number;
  payload: Record<string, unknown>;
}

export interface BinWindowCounts {
  /** Distinct origins that reported the range in the window. */
  members: number;
  /** Distinct merchant selectors named by those reports. */
  merchants: number;
}

export class AlertStore {
  private readonly statements;

  constructor(db: Database.Database) {
    this.statements = {
      binWindow: db.prepare(
        `SELECT COUNT(DISTINCT origin) AS members, COUNT(DISTINCT merchant) AS merchants FROM card_testing_reports
         WHERE substr(bin, 1, 6) = ? AND bucket_start_ms >= ? AND bucket_start_ms < ?`,
      ),
      recentBuckets: db.prepare(
        'SELECT DISTINCT substr(bin, 1, 6) AS bin6, bucket_start_ms AS bucketStartMs FROM card_testing_reports WHERE bucket_start_ms >= ?',
      ),
      insertAlert: db.prepare('INSERT OR IGNORE INTO alerts (member, kind, dedup_key, created_at_ms, payload) VALUES (?, ?, ?, ?, ?)'),
      // Ids come from AUTOINCREMENT: deleting old rows, even the newest, never lets an id be
      // handed out again, so a subscriber's cursor stays valid across pruning.
      pruneAlerts: db.prepare('DELETE FROM alerts WHERE created_at_ms < ?'),
      pruneCardTestingReports: db.prepare('DELETE FROM card_testing_reports WHERE bucket_start_ms < ?'),
      alertsAfter: db.prepare('SELECT id, kind, created_at_ms AS createdAtMs, payload FROM alerts WHERE member = ? AND id > ? ORDER BY id LIMIT ?'),
    };
  }

  binWindowCounts(bin6: string, fromMs: number, toMs: number): BinWindowCounts {
    return this.statements.binWindow.get(bin6, fromMs, toMs) as BinWindowCounts;
  }

  /** (6-digit BIN, bucket) pairs reported from a time on: what detection re-examines at start-up. */
  recentBuckets(sinceMs: number): { bin6: string; bucketStartMs: number }[] {
    return this.statements.recentBuckets.all(sinceMs) as { bin6: string; bucketStartMs: number }[];
  }

  /** Inserts an alert unless one with the same key exists; returns it, or undefined when it existed. */
  insertAlert(member: string, kind: string, dedupKey: string, createdAtMs: number, payload: Record<string, unknown>): StoredAlert | undefined {
    const result = this.statements.insertAlert.run(member, kind, dedupKey, createdAtMs, JSON.stringify(payload));
    if (result.changes === 0) return undefined;
    return { id: Number(result.lastInsertRowid), kind, createdAtMs, payload };
  }

  /** Deletes alerts created before a time; returns how many. */
  pruneAlerts(beforeMs: number): number {
    return this.statements.pruneAlerts.run(beforeMs).changes;
  }

  /** Deletes card-testing report rows (derived from ledger entries, which stay) whose bucket started before a time. */
  pruneCardTestingReports(beforeMs: number): number {
    return this.statements.pruneCardTestingReports.run(beforeMs).changes;
  }

  alertsAfter(member: string, afterId: number, limit: number): StoredAlert[] {
    const rows = this.statements.alertsAfter.all(member, afterId, limit) as { id: number; kind: string; createdAtMs: number; payload: string }[];
    return rows.map((row) => ({ id: row.id, kind: row.kind, createdAtMs: row.createdAtMs, payload: JSON.parse(row.payload) as Record<string, unknown> }));
  }
}
