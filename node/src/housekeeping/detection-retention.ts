// Bounded storage for joint detection. Derived rows are deleted once detection no longer
// reads them; the signed ledger entries they were derived from, publications and selectors
// are never touched here.
// - alerts: older than alerts.retentionDays (a subscriber's cursor stays valid: ids are
//   AUTOINCREMENT, never reused);
// - card-testing reports: bucket older than max(2 windows, 7 days) — detection reads one
//   window, start-up re-examines the last 24 hours;
// - at the common-point aggregator: the decrypted fraud-report rows and report metadata
//   whose window ended before the look-back — the analysis reads nothing older, and opened
//   reports should not outlive their purpose.
// Runs at start, then hourly, and after each common-point analysis. Each prune that deletes
// something writes one audit row of counts and logs them.
import type { Logger } from 'pino';
import type { AlertStore } from '../store/alert-store';
import type { CommonPointPruned, CommonPointStore } from '../store/common-point-store';
import type { AuditLog } from './audit-log';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
const HOUR_MS = 60 * MINUTE_MS;
/** Card-testing rows are kept at least this long, whatever the window. */
const CARD_TESTING_MIN_RETENTION_MS = 7 * DAY_MS;

export interface DetectionRetentionSettings {
  alertRetentionDays: number;
  cardTestingWindowMinutes: number;
  /** The consortium's commonPoint.lookBackDays, at the aggregator only. */
  commonPointLookBackDays?: number;
}

export interface DetectionPruned extends CommonPointPruned {
  alerts: number;
  cardTestingReports: number;
}

export interface DetectionRetentionPorts {
  alerts: Pick<AlertStore, 'pruneAlerts' | 'pruneCardTestingReports'>;
  /** The aggregator's store; absent on every other node. */
  commonPoint?: CommonPointStore;
  audit: AuditLog;
  log: Logger;
}

export class DetectionRetention {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ports: DetectionRetentionPorts,
    private readonly settings: DetectionRetentionSettings,
  ) {}

  /** Deletes what is past retention at a time; returns the counts per table. */
  prune(nowMs = Date.now()): DetectionPruned {
    const { alerts, commonPoint, audit, log } = this.ports;
    const { alertRetentionDays, cardTestingWindowMinutes, commonPointLookBackDays } = this.settings;
    const cardTestingRetentionMs = Math.max(2 * cardTestingWindowMinutes * MINUTE_MS, CARD_TESTING_MIN_RETENTION_MS);
    const pruned: DetectionPruned = {
      alerts: alerts.pruneAlerts(nowMs - alertRetentionDays * DAY_MS),
      cardTestingReports: alerts.pruneCardTestingReports(nowMs - cardTestingRetentionMs),
      fraudCards: 0,
      fraudCardMerchants: 0,
      fraudVolumes: 0,
      fraudReports: 0,
    };
    if (commonPoint && commonPointLookBackDays !== undefined) {
      Object.assign(pruned, commonPoint.prune(nowMs - commonPointLookBackDays * DAY_MS));
    }
    if (Object.values(pruned).some((n) => n > 0)) {
      const retention = { alertRetentionDays, cardTestingRetentionDays: cardTestingRetentionMs / DAY_MS, commonPointLookBackDays };
      audit.record('node', 'detection.pruned', { ...pruned, ...retention });
      log.info({ ...pruned, ...retention }, 'detection data pruned');
    }
    return pruned;
  }

  /** Prunes now, then every interval; errors are logged and the next run tries again. */
  start(intervalMs = HOUR_MS): void {
    this.pruneLogged();
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.pruneLogged(), intervalMs);
    this.timer.unref();
  }

  /** A prune whose failure (a full disk, say) is logged, never thrown into a timer or an event. */
  pruneLogged(): void {
    try {
      this.prune();
    } catch (error) {
      this.ports.log.error({ err: error }, 'detection data prune failed');
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
