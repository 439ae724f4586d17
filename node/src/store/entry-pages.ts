// Stored entries in commit (row id) order, a page at a time: what the start-up verification
// reads through the node's connection and the scrub's worker through a read-only one.
import type Database from 'better-sqlite3';

export const ENTRY_PAGE_SQL = `SELECT e.id AS id, o.member AS origin, e.seq AS seq, e.hash AS hash, e.body AS body, e.signature AS signature
         FROM entries e JOIN origins o ON o.id = e.origin_id
         WHERE e.id > ? ORDER BY e.id LIMIT ?`;

/** One stored entry as the verification reads it: its row id, where it belongs, its bytes. */
export interface StoredEntryPage {
  id: number;
  origin: string;
  seq: number;
  hash: Buffer;
  body: Buffer;
  signature: Buffer;
}

export interface EntryPages {
  /** Entries after a row id, in order (.all(): no read stays open between pages). */
  entriesAfter(afterId: number, limit: number): StoredEntryPage[];
}

export class EntryPageReader implements EntryPages {
  private readonly page: Database.Statement;

  constructor(db: Database.Database) {
    this.page = db.prepare(ENTRY_PAGE_SQL);
  }

  entriesAfter(afterId: number, limit: number): StoredEntryPage[] {
    return this.page.all(afterId, limit) as StoredEntryPage[];
  }
}
