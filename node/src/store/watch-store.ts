// This member's merchant watch list (local to its node, never replicated), and the recent
// stored entries that name a watched merchant: what alerting re-examines at start-up and when
// a merchant is added to the list. Pages are read with .all(), so no read stays open while
// alerting writes alerts.
import type Database from 'better-sqlite3';
import { ledgerProtoRoot } from '../../../proto/ts/loader';

const selectorTypeNumbers: Record<string, number> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').values;
const selectorTypeNames: Record<number, string> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').valuesById;

export interface WatchedMerchant {
  digest: Buffer;
  type: string;
}

export interface StoredEntryRef {
  entryId: number;
  origin: string;
  seq: number;
  body: Buffer;
}

export class WatchStore {
  private readonly statements;
  private readonly change: (merchants: readonly WatchedMerchant[], remove: boolean, keyEpoch: number, nowMs: number) => void;

  constructor(db: Database.Database) {
    this.statements = {
      insert: db.prepare('INSERT OR IGNORE INTO watched_merchants (digest, type, key_epoch, added_at_ms) VALUES (?, ?, ?, ?)'),
      remove: db.prepare('DELETE FROM watched_merchants WHERE digest = ?'),
      all: db.prepare('SELECT digest, type FROM watched_merchants'),
      // Entries received from @sinceMs on that list or flag a watched merchant, in commit order, after an entry id.
      namingWatched: db.prepare(
        `SELECT e.id AS entryId, o.member AS origin, e.seq AS seq, e.body AS body FROM entries e JOIN origins o ON o.id = e.origin_id
         WHERE e.id IN (SELECT s.entry_id FROM watched_merchants w JOIN selectors s ON s.digest = w.digest AND s.entry_id > @afterId
                        UNION SELECT s.entry_id FROM watched_merchants w JOIN selectors_recent s ON s.digest = w.digest AND s.entry_id > @afterId
                        UNION SELECT f.entry_id FROM watched_merchants w JOIN common_point_flags f ON f.merchant = w.digest AND f.entry_id > @afterId)
           AND e.received_at_ms >= @sinceMs
         ORDER BY e.id LIMIT @limit`,
      ),
    };
    const s = this.statements;
    this.change = db.transaction((merchants: readonly WatchedMerchant[], remove: boolean, keyEpoch: number, nowMs: number) => {
      for (const m of merchants) {
        if (remove) s.remove.run(m.digest);
        else s.insert.run(m.digest, selectorTypeNumbers[m.type] ?? 0, keyEpoch, nowMs);
      }
    });
  }

  update(merchants: readonly WatchedMerchant[], remove: boolean, keyEpoch: number, nowMs = Date.now()): void {
    this.change(merchants, remove, keyEpoch, nowMs);
  }

  watched(): WatchedMerchant[] {
    return (this.statements.all.all() as { digest: Buffer; type: number }[]).map((r) => ({ digest: r.digest, type: selectorTypeNames[r.type] ?? 'SELECTOR_TYPE_UNSPECIFIED' }));
  }

  /** At most `limit` entries received from `sinceMs` on that name a watched merchant, after an entry id. */
  entriesNamingWatched(sinceMs: number, afterId: number, limit: number): StoredEntryRef[] {
    return this.statements.namingWatched.all({ sinceMs, afterId, limit }) as StoredEntryRef[];
  }
}
