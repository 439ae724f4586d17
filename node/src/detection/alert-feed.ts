// This member's alerts, whatever raised them (card testing, card listings, watched
// merchants): the one owner of the alert table and of the event that wakes the Alerts stream.
// Detectors write through it; the stream reads pages by id and waits on 'alert'.
import { EventEmitter } from 'node:events';
import type Database from 'better-sqlite3';
import { AlertStore, type BinWindowCounts, type StoredAlert } from '../store/alert-store';

/** What a detector needs of the alert table: raise an alert (deduplicated), read card-testing reports. */
export interface AlertSink {
  insertAlert(member: string, kind: string, dedupKey: string, createdAtMs: number, payload: Record<string, unknown>): StoredAlert | undefined;
  binWindowCounts(bin6: string, fromMs: number, toMs: number): BinWindowCounts;
  recentBuckets(sinceMs: number): { bin6: string; bucketStartMs: number }[];
  alertsAfter(member: string, afterId: number, limit: number): StoredAlert[];
}

export class AlertFeed extends EventEmitter<{ alert: [alert: StoredAlert] }> implements AlertSink {
  private readonly store: AlertStore;

  constructor(
    db: Database.Database,
    readonly member: string,
  ) {
    super();
    this.setMaxListeners(0);
    this.store = new AlertStore(db);
  }

  /** Stores an alert unless its key exists; a new one wakes every subscriber. */
  insertAlert(member: string, kind: string, dedupKey: string, createdAtMs: number, payload: Record<string, unknown>): StoredAlert | undefined {
    const alert = this.store.insertAlert(member, kind, dedupKey, createdAtMs, payload);
    if (alert && member === this.member) this.emit('alert', alert);
    return alert;
  }

  binWindowCounts(bin6: string, fromMs: number, toMs: number): BinWindowCounts {
    return this.store.binWindowCounts(bin6, fromMs, toMs);
  }

  recentBuckets(sinceMs: number): { bin6: string; bucketStartMs: number }[] {
    return this.store.recentBuckets(sinceMs);
  }

  alertsAfter(member: string, afterId: number, limit: number): StoredAlert[] {
    return this.store.alertsAfter(member, afterId, limit);
  }

  /** This member's alerts after a cursor, in id order (the Alerts stream's pages). */
  after(afterId: number, limit: number): StoredAlert[] {
    return this.store.alertsAfter(this.member, afterId, limit);
  }

  pruneAlerts(beforeMs: number): number {
    return this.store.pruneAlerts(beforeMs);
  }

  pruneCardTestingReports(beforeMs: number): number {
    return this.store.pruneCardTestingReports(beforeMs);
  }
}
