// Enumeration alerts from the evaluators' published counts (docs/oprf.md, "Evaluation counts on
// the ledger"). Every node stores every evaluator's counts entries; when a row says one member
// evaluated at least the alert threshold (oprf counts.alertThreshold) for one BIN in one bucket,
// this node raises an alert to its own member. One alert per (requesting member, BIN, bucket),
// whichever evaluator reported it first. The alert names the requesting member, the BIN and the
// band: never a selector, never a blinded element. A BIN inside the requesting member's own
// binRanges raises none: an issuer pre-evaluating its own card base is expected (and has its own
// budgets); its counts are still published and shown.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { OprfCountSettings } from '../config/schemas';
import type { OprfCountStore, PublishedCountRow } from '../store/oprf-count-store';
import type { AlertSink } from './alert-feed';
import type { CommitSource } from './card-testing';
import type { StoredAlert } from '../store/alert-store';
import type { AcceptedEntry } from '../ledger/acceptance';
import { binInRanges } from '../evaluation/budget';

export const OPRF_ENUMERATION_ALERT = 'oprf-enumeration';

const START_UP_LOOK_BACK_MS = 24 * 60 * 60 * 1000;

export class OprfEnumerationDetector extends EventEmitter<{ alert: [alert: StoredAlert] }> {
  private readonly onCommitted = (entries: readonly AcceptedEntry[]) => this.committed(entries);

  constructor(
    private readonly alerts: AlertSink,
    private readonly counts: OprfCountStore,
    private readonly member: string,
    /** The counts settings of the oprf section in force, or undefined without one. */
    private readonly settings: () => OprfCountSettings | undefined,
    /** A member's BIN ranges in the consortium file in force. */
    private readonly binRangesOf: (member: string) => readonly string[],
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** Examines every commit from now on, after re-examining the last day's rows (a crash may have come between a commit and its alert). */
  attach(source: CommitSource, nowMs = Date.now()): () => void {
    const threshold = this.settings()?.alertThreshold;
    if (threshold !== undefined) {
      for (const row of this.counts.atLeast(nowMs - START_UP_LOOK_BACK_MS, threshold)) this.raise(row);
    }
    source.on('committed', this.onCommitted);
    return () => source.off('committed', this.onCommitted);
  }

  private committed(entries: readonly AcceptedEntry[]): void {
    for (const entry of entries) {
      const counts = entry.oprfEvaluationCounts;
      if (!counts) continue;
      const threshold = this.settings()?.alertThreshold;
      if (threshold === undefined) return;
      for (const row of counts.counts) {
        if (row.band < threshold) continue;
        try {
          this.raise({ evaluator: entry.origin, member: row.member, bin: row.bin, bucketStartMs: counts.bucketStartMs, bucketSeconds: counts.bucketSeconds, band: row.band });
        } catch (error) {
          this.log.error({ err: error }, 'evaluation-count alert failed');
        }
      }
    }
  }

  private raise(row: PublishedCountRow): void {
    if (binInRanges(row.bin, this.binRangesOf(row.member))) return;
    const payload = {
      requestingMember: row.member,
      bin: row.bin,
      band: row.band,
      bandUpper: row.band * 2,
      evaluator: row.evaluator,
      windowStartMs: row.bucketStartMs,
      windowEndMs: row.bucketStartMs + row.bucketSeconds * 1000,
    };
    const alert = this.alerts.insertAlert(this.member, OPRF_ENUMERATION_ALERT, `${row.member}:${row.bin}@${row.bucketStartMs}/${row.bucketSeconds}`, Date.now(), payload);
    if (!alert) return;
    this.log.warn({ alertId: alert.id, requestingMember: row.member, bin: row.bin, band: row.band, evaluator: row.evaluator, bucketStartMs: row.bucketStartMs }, 'evaluation-count alert: one member evaluated one BIN past the threshold');
    this.emit('alert', alert);
  }
}
