// What card-listing detection reads back at start-up: recent compromised-card publications of
// other origins that have no card-listing alert of this member yet. Pages are read with
// .all(), so no read stays open while the detector writes alerts.
import type Database from 'better-sqlite3';

export interface StoredCardPublication {
  entryId: number;
  origin: string;
  seq: number;
  body: Buffer;
}

export class CardListingStore {
  private readonly unalerted;

  constructor(db: Database.Database, alertKind: string) {
    this.unalerted = db.prepare(
      `SELECT e.id AS entryId, o.member AS origin, e.seq AS seq, e.body AS body
       FROM entries e
       JOIN publications p ON p.entry_id = e.id
       JOIN origins o ON o.id = e.origin_id
       WHERE e.id > @afterId AND e.received_at_ms >= @sinceMs AND p.kind = 'INDICATOR_KIND_COMPROMISED_CARD' AND o.member <> @member
         AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.member = @member AND a.kind = '${alertKind}' AND a.dedup_key = o.member || '/' || e.seq)
       ORDER BY e.id LIMIT @limit`,
    );
  }

  /** Compromised-card entries of other origins received from `sinceMs` on, after an entry id, with no alert for `member`. */
  unalertedAfter(member: string, sinceMs: number, afterId: number, limit: number): StoredCardPublication[] {
    return this.unalerted.all({ member, sinceMs, afterId, limit }) as StoredCardPublication[];
  }
}
