// The audit log: an append-only table whose rows are chained by hash, so that altering,
// inserting or deleting a row in the middle breaks verification from that row on.
//
// The bytes of a row's hash are defined in proto/ts/trust/domains.ts (auditRowHash). The first
// row links to the anchor in audit_anchor: 32 zero bytes when the log began, or, after a
// prune, the hash of the last pruned row. The anchor is signed with the member's signing key
// (auditAnchorSigningBytes), with the time of the last pruned row, the retention it was pruned
// under and when the log began, so cutting rows from the front takes the member's key: a
// forged, unsigned or replayed anchor fails verification, and so does a signed anchor that
// pruned rows younger than the retention or is dated before the log could have existed.
//
// What it cannot show on its own: rows removed from the end, or a log rewritten by someone
// who holds the member's signing key. Record the head hash (`mamori audit show --json`)
// somewhere else to close the first gap.
import type Database from 'better-sqlite3';
import { auditAnchorSigningBytes, auditRowHash, type AuditAnchorFields } from '../../../proto/ts/trust/domains';
import { signDetached, verifyDetached } from '../../../proto/ts/trust/verify';

const GENESIS = Buffer.alloc(32);
const DAY_MS = 24 * 60 * 60_000;
/** Clock skew allowed for times in the future, and between a prune's two readings of the clock. */
const SKEW_MS = 5 * 60_000;
/**
 * The oldest plausible time of any audit row or anchor: this audit log format did not exist
 * before 2026. An anchor dated earlier is refused whatever its signature.
 */
export const OLDEST_PLAUSIBLE_AUDIT_MS = Date.UTC(2026, 0, 1);

export interface AuditRow {
  id: number;
  atMs: number;
  actor: string;
  action: string;
  /** JSON: counts, member ids, entry seqs, a caller's token name; never a PAN, key or selector. */
  details: string;
  prevHash: Buffer;
  hash: Buffer;
}

export type AuditVerdict = { ok: true; entries: number; headHash: Buffer } | { ok: false; firstBadId: number; reason: string };

export interface AuditAnchor {
  lastId: number;
  hash: Buffer;
  prunedAtMs: number;
  lastAtMs: number | null;
  retentionDays: number | null;
  createdAtMs: number | null;
  member: string | null;
  signature: Buffer | null;
}

/** What verification trusts: this member's signing public key and the configured retention. */
export interface AuditTrust {
  member: string;
  publicKey: Uint8Array;
  retentionDays: number;
}

/** A node's trust plus its secret key: it signs the anchors it writes. */
export interface AuditSigner extends AuditTrust {
  secretKey: Uint8Array;
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
/** Rows at the head that the quick check at start re-computes. */
const QUICK_TAIL = 1000;

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));

function anchorFields(a: AuditAnchor): AuditAnchorFields | undefined {
  if (a.lastAtMs === null || a.retentionDays === null || a.createdAtMs === null || a.member === null || !Buffer.isBuffer(a.hash) || a.hash.length !== 32) return undefined;
  return { member: a.member, lastId: a.lastId, hash: a.hash, lastAtMs: a.lastAtMs, prunedAtMs: a.prunedAtMs, retentionDays: a.retentionDays, createdAtMs: a.createdAtMs };
}

/**
 * Why an anchor is not to be trusted, or undefined when it is: its signature, its member, and
 * its dates (not before the oldest plausible time, not in the future, and the rows it pruned
 * at least as old as the retention: the configured one or the one it was signed with, the
 * longer). `mamori audit verify --retention-days` names the retention when it was lowered on purpose.
 */
export function anchorProblem(anchor: AuditAnchor | undefined, trust: AuditTrust, nowMs = Date.now()): string | undefined {
  if (!anchor) return 'the audit anchor is missing: it was deleted';
  if (!anchor.signature) return 'the audit anchor is not signed: it was written or altered outside the node';
  const fields = anchorFields(anchor);
  if (!fields) return 'the audit anchor is incomplete';
  if (fields.member !== trust.member) return `the audit anchor names member "${fields.member}", not "${trust.member}"`;
  if (!verifyDetached(anchor.signature, auditAnchorSigningBytes(fields), trust.publicKey)) {
    return "the audit anchor's signature does not verify with this member's signing key: it was forged or altered";
  }
  if (fields.createdAtMs < OLDEST_PLAUSIBLE_AUDIT_MS) return `the audit anchor dates the log's start ${iso(fields.createdAtMs)}, before any Mamori audit log existed`;
  if (fields.createdAtMs > nowMs + SKEW_MS || fields.prunedAtMs > nowMs + SKEW_MS) return `the audit anchor is dated in the future (${iso(Math.max(fields.createdAtMs, fields.prunedAtMs))})`;
  if (fields.prunedAtMs < fields.createdAtMs) return `the audit anchor was pruned ${iso(fields.prunedAtMs)}, before the log began ${iso(fields.createdAtMs)}`;
  if (fields.lastId > 0) {
    if (fields.lastAtMs < OLDEST_PLAUSIBLE_AUDIT_MS) return `the audit anchor's last pruned row is dated ${iso(fields.lastAtMs)}, before any Mamori audit log existed`;
    const retentionDays = Math.max(trust.retentionDays, fields.retentionDays);
    // retentionDays 0: a prune from before anchors were signed, adopted once (signUnsignedAnchor).
    if (fields.retentionDays > 0 && fields.lastAtMs > fields.prunedAtMs - retentionDays * DAY_MS + SKEW_MS) {
      return (
        `rows up to #${fields.lastId} (the last dated ${iso(fields.lastAtMs)}) were pruned ${iso(fields.prunedAtMs)}, ` +
        `younger than the retention of ${retentionDays} days (pruned under ${fields.retentionDays}, configured ${trust.retentionDays})`
      );
    }
  }
  return undefined;
}

export class AuditStore {
  private readonly statements;
  private head: { id: number; hash: Buffer } | undefined;

  /**
   * Works on a read-only connection too (verify, rows, anchor); append and prune need a
   * writable one and a signer. verify needs trust (the signer's public key will do).
   */
  constructor(
    private readonly db: Database.Database,
    private readonly trust?: AuditTrust | AuditSigner,
  ) {
    this.statements = {
      last: db.prepare('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1'),
      anchor: db.prepare(
        `SELECT last_id AS lastId, hash, pruned_at_ms AS prunedAtMs, last_at_ms AS lastAtMs, retention_days AS retentionDays,
                created_at_ms AS createdAtMs, member, signature FROM audit_anchor WHERE only = 1`,
      ),
      page: db.prepare('SELECT * FROM audit_log WHERE id > ? ORDER BY id LIMIT ?'),
      lastN: db.prepare('SELECT * FROM (SELECT * FROM audit_log ORDER BY id DESC LIMIT ?) ORDER BY id'),
      count: db.prepare('SELECT COUNT(*) AS n FROM audit_log'),
      span: db.prepare('SELECT COUNT(*) AS n, MIN(id) AS first, MAX(id) AS last FROM audit_log'),
      lastBefore: db.prepare('SELECT id, hash, at_ms AS atMs FROM audit_log WHERE at_ms < ? ORDER BY id DESC LIMIT 1'),
      firstRow: db.prepare('SELECT at_ms AS atMs FROM audit_log ORDER BY id LIMIT 1'),
    };
  }

  private writeStatements() {
    return {
      insert: this.db.prepare('INSERT INTO audit_log (id, at_ms, actor, action, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      deleteUpTo: this.db.prepare('DELETE FROM audit_log WHERE id <= ?'),
      setAnchor: this.db.prepare(
        `INSERT INTO audit_anchor (only, last_id, hash, pruned_at_ms, last_at_ms, retention_days, created_at_ms, member, signature)
         VALUES (1, @lastId, @hash, @prunedAtMs, @lastAtMs, @retentionDays, @createdAtMs, @member, @signature)
         ON CONFLICT (only) DO UPDATE SET last_id = excluded.last_id, hash = excluded.hash, pruned_at_ms = excluded.pruned_at_ms,
           last_at_ms = excluded.last_at_ms, retention_days = excluded.retention_days, created_at_ms = excluded.created_at_ms,
           member = excluded.member, signature = excluded.signature`,
      ),
    };
  }

  private writes: ReturnType<AuditStore['writeStatements']> | undefined;

  anchor(): AuditAnchor | undefined {
    return this.statements.anchor.get() as AuditAnchor | undefined;
  }

  private signer(): AuditSigner {
    const t = this.trust as Partial<AuditSigner> | undefined;
    if (!t?.secretKey) throw new Error('this audit store has no signing key: it cannot write an anchor');
    return t as AuditSigner;
  }

  private requireTrust(trust: AuditTrust | undefined): AuditTrust {
    const t = trust ?? this.trust;
    if (!t) throw new Error('verifying the audit log needs the member signing public key');
    return t;
  }

  private writeAnchor(fields: AuditAnchorFields): void {
    const signer = this.signer();
    this.writes ??= this.writeStatements();
    const signature = signDetached(auditAnchorSigningBytes(fields), signer.secretKey);
    this.writes.setAnchor.run({ ...fields, signature });
  }

  /**
   * At start: signs an anchor that is not signed yet, when `adoptionAllowed` (the start that
   * just added signatures to the schema, or created the database). A legacy anchor is signed
   * only if the chain verifies from it and its date is plausible. Returns what was done, or
   * why the anchor was left alone.
   */
  signUnsignedAnchor(adoptionAllowed: boolean, nowMs = Date.now()): { signed: false } | { signed: true; lastId: number; legacy: boolean } | { signed: false; refused: string } {
    const anchor = this.anchor();
    if (!anchor || anchor.signature) return { signed: false };
    if (!adoptionAllowed) return { signed: false };
    const signer = this.signer();
    const hash = Buffer.isBuffer(anchor.hash) && anchor.hash.length === 32 ? anchor.hash : GENESIS;
    const chain = this.verifyChain({ lastId: anchor.lastId, hash });
    if (!chain.ok) return { signed: false, refused: chain.reason };
    const firstAt = (this.statements.firstRow.get() as { atMs: number } | undefined)?.atMs;
    let fields: AuditAnchorFields;
    if (anchor.lastId === 0) {
      const createdAtMs = Math.max(OLDEST_PLAUSIBLE_AUDIT_MS, Math.min(firstAt ?? nowMs, nowMs));
      fields = { member: signer.member, lastId: 0, hash: GENESIS, lastAtMs: 0, prunedAtMs: createdAtMs, retentionDays: signer.retentionDays, createdAtMs };
    } else {
      // A prune from before anchors were signed recorded neither the last row's time nor the
      // retention: signed with retention 0 ("unknown"), which skips the retention check until
      // the next prune replaces it. Its date must still be plausible, and no row it kept older.
      if (anchor.prunedAtMs < OLDEST_PLAUSIBLE_AUDIT_MS || anchor.prunedAtMs > nowMs + SKEW_MS) {
        return { signed: false, refused: `the unsigned audit anchor is dated ${iso(anchor.prunedAtMs)}, which is not plausible` };
      }
      fields = { member: signer.member, lastId: anchor.lastId, hash, lastAtMs: OLDEST_PLAUSIBLE_AUDIT_MS, prunedAtMs: anchor.prunedAtMs, retentionDays: 0, createdAtMs: OLDEST_PLAUSIBLE_AUDIT_MS };
    }
    this.db.transaction(() => this.writeAnchor(fields))();
    this.head = undefined;
    return { signed: true, lastId: fields.lastId, legacy: firstAt !== undefined || anchor.lastId > 0 };
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
   * Deletes the rows older than the retention (a prefix by id) and signs a new anchor at the last one.
   * Refuses (throws) when the anchor in place does not verify or a row to be deleted does not
   * chain: pruning must never sign over a broken log. Returns how many rows were deleted.
   */
  prune(nowMs = Date.now()): number {
    const signer = this.signer();
    const olderThanMs = nowMs - signer.retentionDays * DAY_MS;
    this.writes ??= this.writeStatements();
    const writes = this.writes;
    return this.db.transaction(() => {
      const last = this.statements.lastBefore.get(olderThanMs) as { id: number; hash: Buffer; atMs: number } | undefined;
      if (!last) return 0;
      const anchor = this.anchor();
      const problem = anchorProblem(anchor, signer, nowMs);
      if (problem || !anchor) throw new Error(`audit log not pruned: ${problem ?? 'no anchor'}`);
      const chain = this.verifyChain({ lastId: anchor.lastId, hash: anchor.hash }, last.id);
      if (!chain.ok) throw new Error(`audit log not pruned: broken at row #${chain.firstBadId}: ${chain.reason}`);
      this.writeAnchor({
        member: signer.member,
        lastId: last.id,
        hash: last.hash,
        lastAtMs: last.atMs,
        prunedAtMs: nowMs,
        retentionDays: signer.retentionDays,
        createdAtMs: anchor.createdAtMs ?? OLDEST_PLAUSIBLE_AUDIT_MS,
      });
      return writes.deleteUpTo.run(last.id).changes;
    })();
  }

  /** Re-computes the chain from a starting link, up to an id (default: the head). */
  private verifyChain(start: { lastId: number; hash: Buffer }, throughId = Number.MAX_SAFE_INTEGER): AuditVerdict {
    const steps = this.chainSteps(start, throughId);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /** The chain from a starting link, a page per step: a caller may yield between pages. */
  private *chainSteps(start: { lastId: number; hash: Buffer }, throughId = Number.MAX_SAFE_INTEGER, fromAnchor = true): Generator<void, AuditVerdict> {
    let prev = { id: start.lastId, hash: start.hash };
    let entries = 0;
    for (;;) {
      const rows = this.statements.page.all(prev.id, PAGE) as RawRow[];
      for (const r of rows) {
        if (r.id > throughId) return { ok: true, entries, headHash: prev.hash };
        const expected = prev.id + 1;
        if (r.id !== expected) {
          const missing = r.id - expected === 1 ? `row ${expected} is missing` : `rows ${expected}-${r.id - 1} are missing`;
          return { ok: false, firstBadId: expected, reason: `${missing} (row ${r.id} follows row ${prev.id})` };
        }
        if (!Buffer.isBuffer(r.prev_hash) || !r.prev_hash.equals(prev.hash)) {
          return { ok: false, firstBadId: r.id, reason: `prev_hash does not match the hash of row ${prev.id}${fromAnchor && prev.id === start.lastId ? ' (the prune anchor)' : ''}` };
        }
        const actual = auditRowHash(prev.hash, r.id, r.at_ms, r.actor, r.action, r.details);
        if (!Buffer.isBuffer(r.hash) || !r.hash.equals(actual)) {
          return { ok: false, firstBadId: r.id, reason: 'hash does not match the row: its contents were altered' };
        }
        prev = { id: r.id, hash: r.hash };
        entries++;
      }
      if (rows.length < PAGE) break;
      yield;
    }
    return { ok: true, entries, headHash: prev.hash };
  }

  /** Checks the anchor (signature, dates, retention) and re-computes the chain from it, a page per step. */
  *verifySteps(trust?: AuditTrust, nowMs = Date.now()): Generator<void, AuditVerdict> {
    const anchor = this.anchor();
    const problem = anchorProblem(anchor, this.requireTrust(trust), nowMs);
    if (problem || !anchor) return { ok: false, firstBadId: anchor?.lastId ?? 0, reason: problem ?? 'no anchor' };
    return yield* this.chainSteps({ lastId: anchor.lastId, hash: anchor.hash });
  }

  /** Checks the anchor and re-computes the whole chain; names the first row that does not verify. */
  verify(trust?: AuditTrust, nowMs = Date.now()): AuditVerdict {
    const steps = this.verifySteps(trust, nowMs);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * The check at start, in milliseconds whatever the size of the log: the anchor, no id
   * missing (count against the id range), the first row linked to the anchor, and the last
   * rows re-computed. The full chain is verified in the background (AuditLog).
   */
  quickVerify(trust?: AuditTrust, nowMs = Date.now()): AuditVerdict {
    const anchor = this.anchor();
    const problem = anchorProblem(anchor, this.requireTrust(trust), nowMs);
    if (problem || !anchor) return { ok: false, firstBadId: anchor?.lastId ?? 0, reason: problem ?? 'no anchor' };
    const span = this.statements.span.get() as { n: number; first: number | null; last: number | null };
    if (span.n === 0 || span.first === null || span.last === null) return { ok: true, entries: 0, headHash: anchor.hash };
    if (span.first !== anchor.lastId + 1) {
      if (span.first < anchor.lastId + 1) return { ok: false, firstBadId: span.first, reason: `row ${span.first} is older than the anchor (#${anchor.lastId})` };
      return { ok: false, firstBadId: anchor.lastId + 1, reason: `rows ${anchor.lastId + 1}-${span.first - 1} are missing (the first row is ${span.first}; the anchor is #${anchor.lastId})` };
    }
    if (span.last - span.first + 1 !== span.n) return { ok: false, firstBadId: span.first, reason: `${span.last - span.first + 1 - span.n} row(s) between #${span.first} and #${span.last} are missing` };
    const first = this.verifyChain({ lastId: anchor.lastId, hash: anchor.hash }, anchor.lastId + 1);
    if (!first.ok) return first;
    const tail = this.statements.lastN.all(QUICK_TAIL) as RawRow[];
    const base = tail[0];
    if (base && base.id > anchor.lastId + 1) {
      const fromTail = this.verifyChainFrom(base);
      if (!fromTail.ok) return fromTail;
    }
    return { ok: true, entries: span.n, headHash: (tail[tail.length - 1] as RawRow).hash };
  }

  /** Re-computes the rows after one taken as given (its own hash re-computed too). */
  private verifyChainFrom(base: RawRow): AuditVerdict {
    const own = auditRowHash(base.prev_hash, base.id, base.at_ms, base.actor, base.action, base.details);
    if (!Buffer.isBuffer(base.hash) || !base.hash.equals(own)) return { ok: false, firstBadId: base.id, reason: 'hash does not match the row: its contents were altered' };
    const steps = this.chainSteps({ lastId: base.id, hash: base.hash }, Number.MAX_SAFE_INTEGER, false);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
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
