// Card-testing (credit master) detection, docs/design.md#card-testing. Every node sees every member's
// reports (they are replicated entries) but raises alerts only for its own member: when at
// least k distinct members have reported the same 6-digit BIN range in one window and this
// member is the issuer owning that range. An alert carries aggregates only — how many members
// reported, how many merchants — never who reported.
//
// Windows are fixed (aligned to windowMinutes since the epoch) and keyed by the reports'
// bucket times, not by when they arrived: every node reaches the same verdict whatever the
// replication order, and (bin, window) is the idempotency key of the alert.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AcceptedEntry } from '../ledger/acceptance';
import type { StoredAlert } from '../store/alert-store';
import type { AlertSink } from './alert-feed';

export const CARD_TESTING_ALERT = 'card-testing';

export interface CardTestingSettings {
  /** Distinct reporting members that raise an alert. */
  k: number;
  windowMinutes: number;
}

export interface CardTestingAlertPayload {
  bin: string;
  reportingMembers: number;
  merchants: number;
  windowStartMs: number;
  windowEndMs: number;
}

/** Where committed entries come from (the node's writer). */
export interface CommitSource {
  on(event: 'committed', listener: (entries: readonly AcceptedEntry[]) => void): unknown;
  off(event: 'committed', listener: (entries: readonly AcceptedEntry[]) => void): unknown;
}

const START_UP_LOOK_BACK_MS = 24 * 60 * 60 * 1000;

export class CardTestingDetector extends EventEmitter<{ alert: [alert: StoredAlert] }> {
  private readonly windowMs: number;
  private readonly onCommitted = (entries: readonly AcceptedEntry[]) => this.committed(entries);

  constructor(
    private readonly store: AlertSink,
    private readonly member: string,
    /** This member's BIN ranges, from the consortium file in force. */
    private readonly binRanges: () => readonly string[],
    private readonly settings: CardTestingSettings,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
    this.windowMs = settings.windowMinutes * 60_000;
  }

  /** Examines every commit from now on, after re-examining recent reports (a crash may have come between a commit and its alert). */
  attach(source: CommitSource, nowMs = Date.now()): () => void {
    for (const { bin6, bucketStartMs } of this.store.recentBuckets(nowMs - Math.max(this.windowMs, START_UP_LOOK_BACK_MS))) {
      this.examine(bin6, this.windowStartOf(bucketStartMs));
    }
    source.on('committed', this.onCommitted);
    return () => source.off('committed', this.onCommitted);
  }

  /** Alerts for this member after a cursor, in id order. */
  alertsAfter(afterId: number, limit: number): StoredAlert[] {
    return this.store.alertsAfter(this.member, afterId, limit);
  }

  /** True when this member owns the 6-digit range: one of its BIN ranges starts with it. */
  owns(bin6: string): boolean {
    return this.binRanges().some((range) => range.slice(0, 6) === bin6);
  }

  private windowStartOf(bucketStartMs: number): number {
    return Math.floor(bucketStartMs / this.windowMs) * this.windowMs;
  }

  private committed(entries: readonly AcceptedEntry[]): void {
    const seen = new Set<string>();
    for (const entry of entries) {
      const report = entry.cardTestingReport;
      if (!report) continue;
      const bin6 = report.bin.slice(0, 6);
      const windowStartMs = this.windowStartOf(report.bucketStartMs);
      const key = `${bin6}@${windowStartMs}`;
      if (seen.has(key)) continue;
      seen.add(key);
      try {
        this.examine(bin6, windowStartMs);
      } catch (error) {
        this.log.error({ err: error, bin: bin6 }, 'card-testing detection failed');
      }
    }
  }

  private examine(bin6: string, windowStartMs: number): void {
    if (!this.owns(bin6)) return;
    const windowEndMs = windowStartMs + this.windowMs;
    const counts = this.store.binWindowCounts(bin6, windowStartMs, windowEndMs);
    if (counts.members < this.settings.k) return;
    const payload: CardTestingAlertPayload = { bin: bin6, reportingMembers: counts.members, merchants: counts.merchants, windowStartMs, windowEndMs };
    const alert = this.store.insertAlert(this.member, CARD_TESTING_ALERT, `${bin6}@${windowStartMs}`, Date.now(), { ...payload });
    if (!alert) return;
    this.log.warn({ alertId: alert.id, bin: bin6, reportingMembers: counts.members, merchants: counts.merchants, windowStartMs }, 'card-testing alert');
    this.emit('alert', alert);
  }
}
