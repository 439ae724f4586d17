// The aggregator's opened fraud reports and the aggregates common-point analysis reads.
// Rows are keyed so that re-reporting is idempotent: a card counts once per merchant and
// issuer; a merchant's volume per issuer is the one of that issuer's newest window (the
// largest among reports of one window, as a report split into entries repeats it).
import type Database from 'better-sqlite3';
import { ledgerProtoRoot } from '../../../proto/ts/loader';

const selectorTypeNumbers: Record<string, number> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').values;
const selectorTypeNames: Record<number, string> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').valuesById;

export interface OpenedFraudReport {
  entryId: number;
  origin: string;
  windowStartMs: number;
  windowEndMs: number;
  activeCards: number;
  cards: { card: Buffer; merchants: { digest: Buffer }[] }[];
  volumes: { merchant: { type: string; digest: Buffer }; cards: number }[];
}

export interface MerchantAggregate {
  merchant: Buffer;
  merchantType: string;
  issuers: number;
  fraudCards: number;
  /** Cards of the reporting issuers that used the merchant, fraud or not. */
  volume: number;
}

export interface Baseline {
  fraudCards: number;
  activeCards: number;
  windowStartMs: number;
  windowEndMs: number;
}

/** Rows deleted by one prune, per table. */
export interface CommonPointPruned {
  fraudCards: number;
  fraudCardMerchants: number;
  fraudVolumes: number;
  fraudReports: number;
}

export interface PendingReportEntry {
  entryId: number;
  origin: string;
  body: Buffer;
}

export class CommonPointStore {
  private readonly statements;
  private readonly insertOpened: (report: OpenedFraudReport, nowMs: number) => void;
  private readonly pruneTransaction: (beforeMs: number) => CommonPointPruned;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      lastRecorded: db
        .prepare(
          `SELECT max(COALESCE((SELECT MAX(entry_id) FROM fraud_reports), 0),
                      COALESCE((SELECT last_entry_id FROM fraud_report_cursor WHERE only = 1), 0))`,
        )
        .pluck(true),
      pendingEntries: db.prepare(
        `SELECT e.id AS entryId, o.member AS origin, e.body AS body FROM entries e JOIN origins o ON o.id = e.origin_id
         WHERE e.id > ? AND e.operation = 'fraudReport' ORDER BY e.id LIMIT ?`,
      ),
      insertReport: db.prepare(
        `INSERT OR IGNORE INTO fraud_reports (entry_id, origin, status, window_start_ms, window_end_ms, active_cards, opened_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertCard: db.prepare(
        `INSERT INTO fraud_cards (card, origin, window_end_ms) VALUES (?, ?, ?)
         ON CONFLICT (card, origin) DO UPDATE SET window_end_ms = max(window_end_ms, excluded.window_end_ms)`,
      ),
      insertCardMerchant: db.prepare(
        `INSERT INTO fraud_card_merchants (merchant, card, origin, window_end_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (merchant, card, origin) DO UPDATE SET window_end_ms = max(window_end_ms, excluded.window_end_ms)`,
      ),
      insertVolume: db.prepare(
        `INSERT INTO fraud_volumes (merchant, origin, merchant_type, cards, window_end_ms) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (merchant, origin) DO UPDATE SET
           cards = CASE WHEN excluded.window_end_ms > window_end_ms THEN excluded.cards
                        WHEN excluded.window_end_ms = window_end_ms THEN max(cards, excluded.cards)
                        ELSE cards END,
           window_end_ms = max(window_end_ms, excluded.window_end_ms)`,
      ),
      candidates: db.prepare(
        `SELECT c.merchant AS merchant, c.issuers AS issuers, c.fraudCards AS fraudCards,
                COALESCE(v.volume, 0) AS volume, COALESCE(v.merchantType, 0) AS merchantType
         FROM (SELECT merchant, COUNT(DISTINCT origin) AS issuers, COUNT(DISTINCT card) AS fraudCards
               FROM fraud_card_merchants WHERE window_end_ms >= @since
               GROUP BY merchant HAVING issuers >= @k AND fraudCards >= @minCards) c
         LEFT JOIN (SELECT merchant, SUM(cards) AS volume, MAX(merchant_type) AS merchantType
                    FROM fraud_volumes WHERE window_end_ms >= @since GROUP BY merchant) v ON v.merchant = c.merchant`,
      ),
      totalFraudCards: db.prepare('SELECT COUNT(DISTINCT card) FROM fraud_cards WHERE window_end_ms >= ?').pluck(true),
      baseline: db.prepare(
        `SELECT COALESCE(SUM(active), 0) AS activeCards, MIN(startMs) AS windowStartMs, MAX(endMs) AS windowEndMs
         FROM (SELECT MAX(active_cards) AS active, MIN(window_start_ms) AS startMs, MAX(window_end_ms) AS endMs
               FROM fraud_reports WHERE status = 'opened' AND window_end_ms >= ? GROUP BY origin)`,
      ),
      published: db.prepare('SELECT COALESCE(MAX(issuers), 0) AS issuers, COALESCE(MAX(fraud_cards), 0) AS fraudCards FROM common_point_flags WHERE merchant = ?'),
      pruneCards: db.prepare('DELETE FROM fraud_cards WHERE window_end_ms < ?'),
      pruneCardMerchants: db.prepare('DELETE FROM fraud_card_merchants WHERE window_end_ms < ?'),
      pruneVolumes: db.prepare('DELETE FROM fraud_volumes WHERE window_end_ms < ?'),
      // Refused reports have no window: they go by when they were examined.
      pruneReports: db.prepare(
        `DELETE FROM fraud_reports WHERE (status = 'opened' AND window_end_ms < @before) OR (status <> 'opened' AND opened_at_ms < @before)`,
      ),
      saveCursor: db.prepare(
        `INSERT INTO fraud_report_cursor (only, last_entry_id) SELECT 1, MAX(entry_id) FROM fraud_reports WHERE true HAVING COUNT(*) > 0
         ON CONFLICT (only) DO UPDATE SET last_entry_id = max(last_entry_id, excluded.last_entry_id)`,
      ),
      counts: db.prepare(
        `SELECT (SELECT COUNT(*) FROM fraud_reports WHERE status = 'opened') AS opened,
                (SELECT COUNT(*) FROM fraud_reports WHERE status NOT IN ('opened', 'not-addressed')) AS refused`,
      ),
    };
    const s = this.statements;
    this.insertOpened = db.transaction((report: OpenedFraudReport, nowMs: number) => {
      const { entryId, origin, windowEndMs } = report;
      if (s.insertReport.run(entryId, origin, 'opened', report.windowStartMs, windowEndMs, report.activeCards, nowMs).changes === 0) return;
      // Sorted by key, the inserts of a large report touch each B-tree page once.
      const pairs: [Buffer, Buffer][] = [];
      for (const { card, merchants } of report.cards) {
        s.insertCard.run(card, origin, windowEndMs);
        for (const m of merchants) pairs.push([m.digest, card]);
      }
      pairs.sort((a, b) => Buffer.compare(a[0], b[0]) || Buffer.compare(a[1], b[1]));
      for (const [merchant, card] of pairs) s.insertCardMerchant.run(merchant, card, origin, windowEndMs);
      for (const v of report.volumes) s.insertVolume.run(v.merchant.digest, origin, selectorTypeNumbers[v.merchant.type] ?? 0, v.cards, windowEndMs);
    });
    this.pruneTransaction = db.transaction((beforeMs: number): CommonPointPruned => {
      s.saveCursor.run();
      return {
        fraudCards: s.pruneCards.run(beforeMs).changes,
        fraudCardMerchants: s.pruneCardMerchants.run(beforeMs).changes,
        fraudVolumes: s.pruneVolumes.run(beforeMs).changes,
        fraudReports: s.pruneReports.run({ before: beforeMs }).changes,
      };
    });
  }

  /** The last fraud-report entry examined (opened or refused): later ones are pending. */
  lastRecordedEntry(): number {
    return this.statements.lastRecorded.get() as number;
  }

  /** Fraud-report entries after an entry id, in commit order. */
  pendingEntries(afterEntryId: number, limit: number): PendingReportEntry[] {
    return this.statements.pendingEntries.all(afterEntryId, limit) as PendingReportEntry[];
  }

  recordOpened(report: OpenedFraudReport, nowMs = Date.now()): void {
    this.insertOpened(report, nowMs);
  }

  /**
   * A report that could not be opened, was invalid, or was addressed to another member
   * ('not-addressed', not counted as refused): examined once, never counted.
   */
  recordRefused(entryId: number, origin: string, status: string, nowMs = Date.now()): void {
    this.statements.insertReport.run(entryId, origin, status, 0, 0, 0, nowMs);
  }

  /** Merchants named by at least k issuers and minCards distinct fraud cards since a time, with their volumes. */
  candidates(sinceMs: number, k: number, minCards: number): MerchantAggregate[] {
    const rows = this.statements.candidates.all({ since: sinceMs, k, minCards }) as (Omit<MerchantAggregate, 'merchantType'> & { merchantType: number })[];
    return rows.map((r) => ({ ...r, merchantType: selectorTypeNames[r.merchantType] ?? 'SELECTOR_TYPE_UNSPECIFIED' }));
  }

  baseline(sinceMs: number): Baseline {
    const row = this.statements.baseline.get(sinceMs) as { activeCards: number; windowStartMs: number | null; windowEndMs: number | null };
    return {
      fraudCards: this.statements.totalFraudCards.get(sinceMs) as number,
      activeCards: row.activeCards,
      windowStartMs: row.windowStartMs ?? sinceMs,
      windowEndMs: row.windowEndMs ?? sinceMs,
    };
  }

  /** The largest issuers and fraud-card counts already published for a merchant (0 if never flagged). */
  published(merchant: Buffer): { issuers: number; fraudCards: number } {
    return this.statements.published.get(merchant) as { issuers: number; fraudCards: number };
  }

  /**
   * Deletes the decrypted rows whose window ended before a time (the look-back), and the
   * metadata of those reports; analysis over the look-back reads the same rows as before.
   * The sealed entries stay in the ledger; the cursor keeps them from being opened again.
   */
  prune(beforeMs: number): CommonPointPruned {
    return this.pruneTransaction(beforeMs);
  }

  counts(): { opened: number; refused: number } {
    return this.statements.counts.get() as { opened: number; refused: number };
  }
}
