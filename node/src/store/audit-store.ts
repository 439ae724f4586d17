// The audit log: an append-only table whose rows are chained by hash, so that altering,
// inserting or deleting a row in the middle breaks verification from that row on.
//
// The bytes of a row's hash are defined in proto/ts/trust/domains.ts (auditRowHash). The first
// row links to 32 zero bytes, or, after a prune, to the hash of the last pruned row kept in
// audit_anchor.
//
// What it cannot show on its own: rows removed from the end, or the whole table rewritten
// by someone who can write the database. Record the head hash (`mamori audit show --json`)
// somewhere else to close that gap.
import type Database from 'better-sqlite3';
import { auditRowHash } from '../../../proto/ts/trust/domains';

const GENESIS = Buffer.alloc(32);

export interface AuditRow {
  id: number;
  atMs: number;
  actor: string;
  action: string;
  /** JSON: counts, member ids, entry seqs, a caller's short digest; never a PAN, key or selector. */
  details: string;
  prevHash: Buffer;
  hash: Buffer;
}

export type AuditVerdict = { ok: true; entries: number; headHash: Buffer } | { ok: false; firstBadId: number; reason: string };

export interface AuditAnchor {
  lastId: number;
  hash: Buffer;
  prunedAtMs: number;
}

interface RawRow {
  id: number;
  at_ms: number;
  actor: string;
  action: string;
  details: string;
  prev_hash: Buffer;
  hash: Buffer;
}

const toRow = (r: RawRow): AuditRow => ({ id: r.id, atMs: r.at_ms, actor: r.actor, action: r.action, details: r.details, prevHash: r.prev_hash, hash: r.hash });

const PAGE = 1000;

export class AuditStore {
  private readonly statements;
  private head: { id: number; hash: Buffer } | undefined;

  /** Works on a read-only connection too (verify, rows, anchor); append and prune need a writable one. */
  constructor(private readonly db: Database.Database) {
    this.statements = {
      last: db.prepare('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1'),
      anchor: db.prepare('SELECT last_id AS lastId, hash, pruned_at_ms AS prunedAtMs FROM audit_anchor WHERE only = 1'),
      page: db.prepare('SELECT * FROM audit_log WHERE id > ? ORDER BY id LIMIT ?'),
      lastN: db.prepare('SELECT * FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT ?) ORDER BY id'),
      count: db.prepare('SELECT COUNT(*) AS n FROM audit_log'),
      lastBefore: db.prepare('SELECT id, hash FROM audit_log WHERE at_ms < ? ORDER BY id DESC LIMIT 1'),
    };
  }

  private writeStatements() {
    return {
      insert: this.db.prepare('INSERT INTO audit_log (id, at_ms, actor, action, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      deleteUpTo: this.db.prepare('DELETE FROM audit_log WHERE id <= ?'),
      setAnchor: this.db.prepare(
        `INSERT INTO audit_anchor (only, last_id, hash, pruned_at_ms) VALUES (1, ?, ?, ?)
         ON CONFLICT (only) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash, pruned_at_ms = excluded.pruned_at_ms`,
      ),
    };
  }

  private writes: ReturnType<AuditStore['writeStatements']> | undefined;

  anchor(): AuditAnchor | undefined {
    return this.statements.anchor.get() as AuditAnchor | undefined;
  }

  private currentHead(): { id: number; hash: Buffer } {
    if (!this.head) {
      const last = this.statements.last.get() as { id: number; hash: Buffer } | undefined;
      const anchor = this.anchor();
      this.head = last ?? (anchor ? { id: anchor.lastId, hash: anchor.hash } : { id: 0, hash: GENESIS });
    }
    return this.head;
  }

  /** Appends rows in one transaction; returns the last one. */
  appendMany(rows: readonly { atMs: number; actor: string; action: string; details: object }[]): AuditRow | undefined {
    this.writes ??= this.writeStatements();
    const insert = this.writes.insert;
    let lastRow: AuditRow | undefined;
    const start = this.currentHead();
    let head = start;
    try {
      this.db.transaction(() => {
        for (const r of rows) {
          const id = head.id + 1;
          const details = JSON.stringify(r.details);
          const hash = auditRowHash(head.hash, id, r.atMs, r.actor, r.action, details);
          insert.run(id, r.atMs, r.actor, r.action, details, head.hash, hash);
          lastRow = { id, atMs: r.atMs, actor: r.actor, action: r.action, details, prevHash: head.hash, hash };
          head = { id, hash };
        }
      })();
    } catch (error) {
      this.head = undefined; // re-read from the database next time
      throw error;
    }
    this.head = head;
    return lastRow;
  }

  append(actor: string, action: string, details: object, atMs = Date.now()): AuditRow {
    return this.appendMany([{ atMs, actor, action, details }]) as AuditRow;
  }

  /**
   * Deletes the rows older than a time (a prefix by id) and records the last one's hash as
   * the anchor the first remaining row links to. Returns how many rows were deleted.
   */
  prune(olderThanMs: number, nowMs = Date.now()): number {
    this.writes ??= this.writeStatements();
    const writes = this.writes;
    return this.db.transaction(() => {
      const last = this.statements.lastBefore.get(olderThanMs) as { id: number; hash: Buffer } | undefined;
      if (!last) return 0;
      writes.setAnchor.run(last.id, last.hash, nowMs);
      return writes.deleteUpTo.run(last.id).changes;
    })();
  }

  /** Re-computes the chain from the anchor; names the first row that does not verify. */
  verify(): AuditVerdict {
    const anchor = this.anchor();
    let prev = anchor ? { id: anchor.lastId, hash: anchor.hash } : { id: 0, hash: GENESIS };
    let entries = 0;
    for (;;) {
      const rows = this.statements.page.all(prev.id, PAGE) as RawRow[];
      for (const r of rows) {
        const expected = prev.id + 1;
        if (r.id !== expected) {
          const missing = r.id - expected === 1 ? `row ${expected} is missing` : `rows ${expected}-${r.id - 1} are missing`;
          return { ok: false, firstBadId: expected, reason: `${missing} (row ${r.id} follows row ${prev.id})` };
        }
        if (!Buffer.isBuffer(r.prev_hash) || !r.prev_hash.equals(prev.hash)) {
          return { ok: false, firstBadId: r.id, reason: `prev_hash does not match the hash of row ${prev.id}${anchor && prev.id === anchor.lastId ? ' (the prune anchor)' : ''}` };
        }
        const actual = auditRowHash(prev.hash, r.id, r.at_ms, r.actor, r.action, r.details);
        if (!Buffer.isBuffer(r.hash) || !r.hash.equals(actual)) {
          return { ok: false, firstBadId: r.id, reason: 'hash does not match the row: its contents were altered' };
        }
        prev = { id: r.id, hash: r.hash };
        entries++;
      }
      if (rows.length < PAGE) break;
    }
    return { ok: true, entries, headHash: prev.hash };
  }

  /** The last n rows, oldest first. */
  last(n: number): AuditRow[] {
    return (this.statements.lastN.all(n) as RawRow[]).map(toRow);
  }

  /** Rows after an id, oldest first (a page). */
  rowsAfter(afterId: number, limit = PAGE): AuditRow[] {
    return (this.statements.page.all(afterId, limit) as RawRow[]).map(toRow);
  }

  count(): number {
    return (this.statements.count.get() as { n: number }).n;
  }
}
