// Stored entries the scrub found damaged, kept until a good copy replaces them. The table
// names origin and seq only; the damaged bytes stay in the entries table, as found.
import type Database from 'better-sqlite3';

export interface DamagedEntryMark {
  origin: string;
  seq: number;
  reason: string;
  detectedAtMs: number;
}

export class DamagedEntryStore {
  private readonly statements;
  private readonly repairTransaction: (origin: string, seq: number, body: Buffer, signature: Buffer, hash: Buffer) => boolean;

  constructor(db: Database.Database) {
    this.statements = {
      mark: db.prepare('INSERT OR IGNORE INTO damaged_entries (origin, seq, reason, detected_at_ms) VALUES (?, ?, ?, ?)'),
      clear: db.prepare('DELETE FROM damaged_entries WHERE origin = ? AND seq = ?'),
      list: db.prepare('SELECT origin, seq, reason, detected_at_ms AS detectedAtMs FROM damaged_entries ORDER BY origin, seq'),
      count: db.prepare('SELECT COUNT(*) FROM damaged_entries').pluck(true),
      rewrite: db.prepare(
        `UPDATE entries SET body = ?, signature = ?, hash = ?
         WHERE origin_id = (SELECT id FROM origins WHERE member = ?) AND seq = ?`,
      ),
    };
    this.repairTransaction = db.transaction((origin: string, seq: number, body: Buffer, signature: Buffer, hash: Buffer): boolean => {
      const changed = this.statements.rewrite.run(body, signature, hash, origin, seq).changes > 0;
      this.statements.clear.run(origin, seq);
      return changed;
    });
  }

  /** Marks an entry damaged; false when it already was. */
  mark(origin: string, seq: number, reason: string, nowMs = Date.now()): boolean {
    return this.statements.mark.run(origin, seq, reason, nowMs).changes > 0;
  }

  clear(origin: string, seq: number): boolean {
    return this.statements.clear.run(origin, seq).changes > 0;
  }

  list(): DamagedEntryMark[] {
    return this.statements.list.all() as DamagedEntryMark[];
  }

  count(): number {
    return this.statements.count.get() as number;
  }

  /**
   * Replaces a stored entry's signed bytes and hash column with a verified copy and clears
   * its mark, in one transaction. The rows derived from the entry (publications, selectors,
   * retractions) were written from the original bytes, which the copy equals by hash, so
   * they stay as they are.
   */
  repair(origin: string, seq: number, copy: { body: Buffer; signature: Buffer; hash: Buffer }): boolean {
    return this.repairTransaction(origin, seq, copy.body, copy.signature, copy.hash);
  }
}
