// The verification checkpoint: how far the stored entries were last verified whole — the last
// entry row id a completed verification walked (at start, or a scrub pass that found nothing
// damaged) and each origin's head {seq, hash} there — MACed under the node-local key
// (node-key.ts; the key never enters SQLite). Rows appended while running were verified when
// they were accepted, so a checkpoint covers the rows at or below its row id only.
//
// A start uses it only when its MAC verifies and it still matches the stored rows: each head
// is stored at its origin/seq, at or below the checkpoint's row, with the checkpoint's hash in
// its hash column, and its body and signature are that entry (hash and signature verified);
// every origin with a first entry at or below it has a head; and the rows at or below it number
// the heads' seqs added up (a row deleted, truncated or slipped in below it is noticed). Rows altered in place below it are left to the
// scrub pass that begins at start (docs/security.md).
import { timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { verificationCheckpointMac } from '../../../proto/ts/trust/domains';
import type { FeedHead } from '../ledger/entry';
import { isOriginalCopy, type MemberLookup } from './verify-ledger';

export interface VerificationCheckpoint {
  /** Row id of the last entry the verification walked. */
  coveredRowId: number;
  heads: Map<string, FeedHead>;
}

/** A checkpoint a start may verify from, or why not (never bytes). */
export type CheckpointLookup = { usable: true; checkpoint: VerificationCheckpoint } | { usable: false; reason: string };

type HeadRecord = [origin: string, seq: number, hashHex: string];

export class VerificationCheckpoints {
  private readonly statements;

  constructor(
    db: Database.Database,
    private readonly key: Buffer,
  ) {
    this.statements = {
      read: db.prepare('SELECT covered_row_id AS coveredRowId, heads, mac FROM verification_checkpoint WHERE only = 1'),
      write: db.prepare('INSERT OR REPLACE INTO verification_checkpoint (only, covered_row_id, heads, mac, recorded_at_ms) VALUES (1, ?, ?, ?, ?)'),
      storedHead: db.prepare(
        `SELECT e.id AS id, e.hash AS hash, e.body AS body, e.signature AS signature
         FROM entries e JOIN origins o ON o.id = e.origin_id WHERE o.member = ? AND e.seq = ?`,
      ),
      // `+id`: counted on the (origin_id, seq) index, which holds every row id, rather than by a
      // range of the table itself, whose leaf pages carry the bodies (at 10^7 indicators in
      // 1,000 entries: 3 ms against 90-185 ms, cold).
      rowsUpTo: db.prepare('SELECT COUNT(*) FROM entries WHERE +id <= ?').pluck(true),
      // Origins whose first entry lies at or below a row: each must have a head in the checkpoint.
      originsUpTo: db.prepare('SELECT o.member FROM origins o JOIN entries e ON e.origin_id = o.id AND e.seq = 1 WHERE e.id <= ?').pluck(true),
    };
  }

  /** Records that every stored entry up to `coveredRowId` verified, with each origin's head there. */
  record(coveredRowId: number, heads: ReadonlyMap<string, FeedHead>, nowMs = Date.now()): void {
    const json = headsJson(heads);
    this.statements.write.run(coveredRowId, json, verificationCheckpointMac(this.key, coveredRowId, json), nowMs);
  }

  /** The stored checkpoint when it is authentic and matches the stored rows (see the file header). */
  load(member: MemberLookup): CheckpointLookup {
    const row = this.statements.read.get() as { coveredRowId: number; heads: string; mac: Buffer } | undefined;
    if (!row) return { usable: false, reason: 'no verification checkpoint yet' };
    const expected = verificationCheckpointMac(this.key, row.coveredRowId, row.heads);
    if (!Buffer.isBuffer(row.mac) || row.mac.length !== expected.length || !timingSafeEqual(row.mac, expected)) {
      return { usable: false, reason: 'the verification checkpoint fails its MAC' };
    }
    const heads = parseHeads(row.heads);
    if (!heads) return { usable: false, reason: 'the verification checkpoint heads do not parse' };
    let seqs = 0;
    for (const [origin, head] of heads) {
      const stored = this.statements.storedHead.get(origin, head.seq) as { id: number; hash: Buffer; body: Buffer; signature: Buffer } | undefined;
      const where = `${origin}#${head.seq}`;
      if (!stored || stored.id > row.coveredRowId) return { usable: false, reason: `the checkpoint head ${where} is not stored at or below row ${row.coveredRowId}` };
      if (!stored.hash.equals(head.hash)) return { usable: false, reason: `the checkpoint head ${where} has another stored hash` };
      if (!isOriginalCopy(stored, origin, head.seq, head.hash, member)) return { usable: false, reason: `the checkpoint head ${where} does not verify` };
      seqs += head.seq;
    }
    for (const origin of this.statements.originsUpTo.all(row.coveredRowId) as string[]) {
      if (!heads.has(origin)) return { usable: false, reason: `entries of ${origin} at or below row ${row.coveredRowId} have no checkpoint head` };
    }
    const rows = this.statements.rowsUpTo.get(row.coveredRowId) as number;
    if (rows !== seqs) return { usable: false, reason: `${rows} entry rows at or below row ${row.coveredRowId} where the checkpoint heads give ${seqs}` };
    return { usable: true, checkpoint: { coveredRowId: row.coveredRowId, heads } };
  }
}

function headsJson(heads: ReadonlyMap<string, FeedHead>): string {
  const records: HeadRecord[] = [...heads]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([origin, head]) => [origin, head.seq, Buffer.from(head.hash).toString('hex')]);
  return JSON.stringify(records);
}

function parseHeads(json: string): Map<string, FeedHead> | undefined {
  try {
    const records = JSON.parse(json) as unknown;
    if (!Array.isArray(records)) return undefined;
    const heads = new Map<string, FeedHead>();
    for (const r of records as unknown[]) {
      if (!Array.isArray(r) || typeof r[0] !== 'string' || !Number.isSafeInteger(r[1]) || (r[1] as number) < 1 || typeof r[2] !== 'string' || !/^[0-9a-f]{64}$/.test(r[2])) return undefined;
      heads.set(r[0], { seq: r[1] as number, hash: Buffer.from(r[2], 'hex') });
    }
    return heads;
  } catch {
    return undefined;
  }
}
