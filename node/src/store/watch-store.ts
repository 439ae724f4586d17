// This member's merchant watch list (local to its node, never replicated), and the stored
// entries that name a watched merchant: what alerting re-examines at start-up and when a
// merchant is added to the list.
import type Database from 'better-sqlite3';
import { ledgerProtoRoot } from '../../../proto/ts/loader';

const selectorTypeNumbers: Record<string, number> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').values;
const selectorTypeNames: Record<number, string> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').valuesById;

export interface WatchedMerchant {
  digest: Buffer;
  type: string;
}

export interface StoredEntryRef {
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
      // Entries that list or flag a watched merchant, in commit order.
      namingWatched: db.prepare(
        `SELECT o.member AS origin, e.seq AS seq, e.body AS body FROM entries e JOIN origins o ON o.id = e.origin_id
         WHERE e.id IN (SELECT s.entry_id FROM watched_merchants w JOIN selectors s ON s.digest = w.digest
                        UNION SELECT s.entry_id FROM watched_merchants w JOIN selectors_recent s ON s.digest = w.digest
                        UNION SELECT f.entry_id FROM watched_merchants w JOIN common_point_flags f ON f.merchant = w.digest)
         ORDER BY e.id`,
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

  entriesNamingWatched(): StoredEntryRef[] {
    return this.statements.namingWatched.all() as StoredEntryRef[];
  }
}
