// The ledger's repositories: entries, publications, selectors by digest, retractions.
// One writer; every write is one synchronous transaction; callers acknowledge only after it returns.
import type Database from 'better-sqlite3';
import { ledgerProtoRoot } from '../../../proto/ts/loader';
import type { AcceptedEntry } from '../ledger/acceptance';
import type { FeedHead } from '../ledger/entry';
import { openDatabase } from './database';
import { SightingStore, type StoredSighting } from './sighting-store';
import { ENTRY_PAGE_SQL, type StoredEntryPage } from './entry-pages';
import { derivedRowsOfAccepted, expectedDigest, type DerivedRows, type EntryDigest } from '../integrity/derived-rows';

export type { StoredEntryPage } from './entry-pages';

export interface StoredListing {
  originId: number;
  origin: string;
  seq: number;
  entryId: number;
  createdAtMs: number;
  selectorType: string;
  kind: string;
  reason: string;
  exposed: string[];
  confidence: number;
  validFromMs: number;
  validUntilMs: number;
  eventId: string;
  retracted: boolean;
}

interface ListingRow {
  type: number;
  originId: number;
  seq: number;
  entryId: number;
  createdAtMs: number;
  kind: string;
  reason: string;
  exposed: string;
  confidence: number;
  validFromMs: number;
  validUntilMs: number;
  eventId: string;
  retracted: number;
}

const selectorTypeNames: Record<number, string> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').valuesById;
const selectorTypeNumbers: Record<string, number> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').values;

/** Up to this many rows in the large selector table, the merge threshold is the configured one. */
const MERGE_SCALE_ROWS = 1_000_000;

/** Rows of selectors_recent that trigger a merge into a large table of `largeRows`. */
export function mergeThresholdFor(threshold: number, largeRows: number): number {
  return Math.round(threshold * Math.sqrt(Math.max(1, largeRows / MERGE_SCALE_ROWS)));
}

export class LedgerStore {
  readonly db: Database.Database;
  private readonly originIds = new Map<string, number>();
  private readonly originNames = new Map<number, string>();
  private readonly statements;
  private readonly appendTransaction: (entries: readonly AcceptedEntry[], receivedAtMs: number) => number[];
  private readonly mergeTransaction: () => void;
  private recentRows: number;
  private cachedCounts: { entries: number; indicators: number } | undefined;
  private readonly sightings: SightingStore;
  /** Rows of selectors_recent that trigger a merge into the large table. */
  readonly mergeThreshold: number;
  /** The node-local key: with it, each entry's derived rows get their digest row as they are written. */
  private readonly derivedKey: Buffer | undefined;
  private readonly replaceTransaction: (entryId: number, originId: number, rows: DerivedRows, digest: EntryDigest) => void;
  private readonly dropTransaction: (entryId: number) => void;

  private constructor(db: Database.Database, mergeThreshold: number, derivedKey?: Buffer) {
    this.db = db;
    this.mergeThreshold = mergeThreshold;
    this.derivedKey = derivedKey;
    this.statements = {
      insertOrigin: db.prepare('INSERT INTO origins (member) VALUES (?)'),
      insertEntry: db.prepare(
        `INSERT INTO entries (origin_id, seq, hash, operation, key_epoch, created_at_ms, received_at_ms, signature, body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertPublication: db.prepare(
        `INSERT INTO publications (entry_id, kind, reason, exposed, confidence, valid_from_ms, valid_until_ms, event_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertSelector: db.prepare('INSERT INTO selectors_recent (digest, entry_id, type) VALUES (?, ?, ?)'),
      mergeRecent: db.prepare('INSERT INTO selectors (digest, entry_id, type) SELECT digest, entry_id, type FROM selectors_recent ORDER BY digest, entry_id'),
      clearRecent: db.prepare('DELETE FROM selectors_recent'),
      countRecent: db.prepare('SELECT COUNT(*) AS n FROM selectors_recent'),
      insertRetraction: db.prepare('INSERT OR IGNORE INTO retractions (digest, origin_id, entry_id, reason) VALUES (?, ?, ?, ?)'),
      insertDerivedDigest: db.prepare('INSERT OR REPLACE INTO derived_digests (entry_id, selector_rows, selectors_hash, digest) VALUES (?, ?, ?, ?)'),
      deleteSelectorsOf: db.prepare('DELETE FROM selectors WHERE entry_id = ?'),
      deleteRecentSelectorsOf: db.prepare('DELETE FROM selectors_recent WHERE entry_id = ?'),
      deletePublicationOf: db.prepare('DELETE FROM publications WHERE entry_id = ?'),
      deleteRetractionsOf: db.prepare('DELETE FROM retractions WHERE entry_id = ?'),
      deleteDerivedDigestOf: db.prepare('DELETE FROM derived_digests WHERE entry_id = ?'),
      entryById: db.prepare(
        `SELECT e.id AS id, o.member AS origin, e.origin_id AS originId, e.seq AS seq, e.hash AS hash, e.body AS body, e.signature AS signature
         FROM entries e JOIN origins o ON o.id = e.origin_id WHERE e.id = ?`,
      ),
      insertCardTestingReport: db.prepare(
        `INSERT INTO card_testing_reports (entry_id, origin, bin, bucket_start_ms, bucket_minutes, attempts, declines, merchant)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertKeyEpochAck: db.prepare('INSERT OR IGNORE INTO key_epoch_acks (member, epoch, entry_id, acked_at_ms) VALUES (?, ?, ?, ?)'),
      insertCommonPointFlag: db.prepare(
        `INSERT INTO common_point_flags (entry_id, idx, merchant, merchant_type, issuers, fraud_cards, expected_fraud_cards, p_value, window_start_ms, window_end_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertOprfCount: db.prepare(
        `INSERT INTO oprf_counts (entry_id, idx, evaluator, member, bin, bucket_start_ms, bucket_seconds, band)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      listings: db.prepare(
        `SELECT s.type AS type, e.origin_id AS originId, e.seq AS seq, s.entry_id AS entryId, e.created_at_ms AS createdAtMs,
                p.kind AS kind, p.reason AS reason, p.exposed AS exposed, p.confidence AS confidence,
                p.valid_from_ms AS validFromMs, p.valid_until_ms AS validUntilMs, p.event_id AS eventId,
                EXISTS (SELECT 1 FROM retractions r
                        WHERE r.digest = s.digest AND r.origin_id = e.origin_id AND r.entry_id > s.entry_id) AS retracted
         FROM (SELECT digest, entry_id, type FROM selectors WHERE digest = @digest
               UNION ALL
               SELECT digest, entry_id, type FROM selectors_recent WHERE digest = @digest) s
         JOIN entries e ON e.id = s.entry_id
         JOIN publications p ON p.entry_id = s.entry_id`,
      ),
      heads: db.prepare(
        `SELECT o.member AS origin, e.seq AS seq, e.hash AS hash
         FROM entries e JOIN origins o ON o.id = e.origin_id
         WHERE e.seq = (SELECT MAX(seq) FROM entries WHERE origin_id = e.origin_id)`,
      ),
      entryPage: db.prepare(ENTRY_PAGE_SQL),
      maxEntryId: db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM entries'),
      entryHashById: db.prepare('SELECT hash FROM entries WHERE id = ?').pluck(true),
      countEntries: db.prepare('SELECT COUNT(*) AS n FROM entries'),
      mainDigestPage: db.prepare('SELECT digest FROM selectors WHERE digest > ? ORDER BY digest LIMIT ?').raw(true),
      recentDigests: db.prepare('SELECT digest FROM selectors_recent').raw(true),
      entryAt: db.prepare(
        `SELECT e.hash AS hash, e.body AS body, e.signature AS signature FROM entries e JOIN origins o ON o.id = e.origin_id
         WHERE o.member = ? AND e.seq = ?`,
      ),
      entriesOf: db.prepare(
        `SELECT e.seq AS seq, e.body AS body, e.signature AS signature FROM entries e JOIN origins o ON o.id = e.origin_id
         WHERE o.member = ? AND e.seq >= ? ORDER BY e.seq LIMIT ?`,
      ),
      insertEquivocation: db.prepare(
        `INSERT OR IGNORE INTO equivocations (origin, seq, stored_hash, other_hash, other_body, other_signature, reported_by, detected_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      freeze: db.prepare('INSERT OR IGNORE INTO frozen_origins (origin, since_ms, reason) VALUES (?, ?, ?)'),
      unfreeze: db.prepare('DELETE FROM frozen_origins WHERE origin = ?'),
      frozen: db.prepare('SELECT origin, since_ms AS sinceMs, reason FROM frozen_origins'),
      equivocationCount: db.prepare('SELECT COUNT(*) AS n FROM equivocations WHERE origin = ?'),
      countSelectors: db.prepare('SELECT (SELECT COUNT(*) FROM selectors) + (SELECT COUNT(*) FROM selectors_recent) AS n'),
      allDigests: db.prepare('SELECT digest FROM selectors UNION ALL SELECT digest FROM selectors_recent').raw(true),
      digestsAfter: db.prepare('SELECT digest FROM selectors WHERE entry_id > @after UNION ALL SELECT digest FROM selectors_recent WHERE entry_id > @after').raw(true),
    };
    this.sightings = new SightingStore(db);
    this.loadOrigins();
    this.appendTransaction = db.transaction((entries: readonly AcceptedEntry[], receivedAtMs: number): number[] => this.appendRows(entries, receivedAtMs));
    this.mergeTransaction = db.transaction(() => {
      this.statements.mergeRecent.run();
      this.statements.clearRecent.run();
    });
    this.replaceTransaction = db.transaction((entryId: number, originId: number, rows: DerivedRows, digest: EntryDigest) => {
      this.deleteDerivedRows(entryId);
      this.insertDerivedRows(entryId, originId, rows);
      this.statements.insertDerivedDigest.run(entryId, digest.selectorRows, digest.selectorsHash, digest.digest);
    });
    this.dropTransaction = db.transaction((entryId: number) => {
      this.deleteDerivedRows(entryId);
      this.statements.deleteDerivedDigestOf.run(entryId);
    });
    this.recentRows = (this.statements.countRecent.get() as { n: number }).n;
  }

  /** `derivedKey`: the node-local key (integrity/node-key.ts); without it no digest rows are written (tools, tests). */
  static open(file: string, options: { mergeThreshold?: number; maxDatabaseMb?: number; derivedKey?: Buffer } = {}): LedgerStore {
    return new LedgerStore(openDatabase(file, { maxDatabaseMb: options.maxDatabaseMb }), options.mergeThreshold ?? 200_000, options.derivedKey);
  }

  /** One stored entry by row id, with its origin. */
  entryById(id: number): { id: number; origin: string; originId: number; seq: number; hash: Buffer; body: Buffer; signature: Buffer } | undefined {
    return this.statements.entryById.get(id) as { id: number; origin: string; originId: number; seq: number; hash: Buffer; body: Buffer; signature: Buffer } | undefined;
  }

  /**
   * Replaces every row derived from one entry (publication, selectors, retractions) and its
   * digest row with the given ones, in one transaction: the repair of damaged derived state.
   * The selector tables have no index by entry, so this scans them: for repairs, not for writes.
   */
  replaceDerivedRows(entryId: number, originId: number, rows: DerivedRows, digest: EntryDigest): void {
    this.replaceTransaction(entryId, originId, rows, digest);
    this.recentRows = (this.statements.countRecent.get() as { n: number }).n;
    this.cachedCounts = undefined;
  }

  /** Writes digest rows for entries stored without one (derived from their signed bodies by the caller). */
  writeDerivedDigests(digests: readonly { entryId: number; digest: EntryDigest }[]): void {
    this.db.transaction(() => {
      for (const d of digests) this.statements.insertDerivedDigest.run(d.entryId, d.digest.selectorRows, d.digest.selectorsHash, d.digest.digest);
    })();
  }

  /** Deletes derived rows that belong to no entry. */
  dropDerivedRows(entryId: number): void {
    this.dropTransaction(entryId);
    this.recentRows = (this.statements.countRecent.get() as { n: number }).n;
    this.cachedCounts = undefined;
  }

  private deleteDerivedRows(entryId: number): void {
    const s = this.statements;
    s.deleteSelectorsOf.run(entryId);
    s.deleteRecentSelectorsOf.run(entryId);
    s.deletePublicationOf.run(entryId);
    s.deleteRetractionsOf.run(entryId);
  }

  private insertDerivedRows(entryId: number, originId: number, rows: DerivedRows): void {
    const s = this.statements;
    const p = rows.publication;
    if (p) s.insertPublication.run(entryId, p.kind, p.reason, p.exposed, p.confidence, p.validFromMs, p.validUntilMs, p.eventId);
    for (const sel of rows.selectors) s.insertSelector.run(sel.digest, entryId, sel.type);
    for (const r of rows.retractions) s.insertRetraction.run(r.digest, originId, entryId, r.reason);
  }

  /**
   * True once enough selectors have gathered in the small table to merge them. A merge rewrites
   * most pages of the large table (the digests are random), so its cost grows with that table;
   * an insert into the small table grows with the small one. The threshold grows with the square
   * root of the large table beyond MERGE_SCALE_ROWS, which keeps the sum of the two near its least
   * (docs/benchmarks.md, section 7). `heldSelectors`: every selector stored, both tables (the filter's
   * count, so that no count of the large table is needed).
   */
  mergeDue(heldSelectors: number): boolean {
    return this.recentRows >= mergeThresholdFor(this.mergeThreshold, heldSelectors - this.recentRows);
  }

  /**
   * Moves the recent selectors into the large table in one sorted pass. Runs after a commit
   * once enough have gathered; a crash in between loses nothing (both tables are read).
   */
  mergeRecentSelectors(): number {
    const moved = this.recentRows;
    if (moved === 0) return 0;
    this.mergeTransaction();
    this.recentRows = 0;
    return moved;
  }

  /** Appends an accepted entry and its rows in one transaction; returns the entry's row id once committed. */
  append(entry: AcceptedEntry, receivedAtMs = Date.now()): number {
    return this.appendMany([entry], receivedAtMs)[0] as number;
  }

  /** Appends entries, in order, in one transaction (group commit); returns their row ids once committed. */
  appendMany(entries: readonly AcceptedEntry[], receivedAtMs = Date.now()): number[] {
    const before = this.recentRows;
    const counted = this.cachedCounts && { ...this.cachedCounts };
    try {
      return this.appendTransaction(entries, receivedAtMs);
    } catch (error) {
      // The transaction rolled back: so do the numbers and ids kept beside it.
      this.recentRows = before;
      this.cachedCounts = counted;
      this.loadOrigins();
      throw error;
    }
  }

  private appendRows(entries: readonly AcceptedEntry[], receivedAtMs: number): number[] {
    const s = this.statements;
    const ids: number[] = [];
    const selectorRows: { digest: Buffer; entryId: number; type: number }[] = [];
    for (const entry of entries) {
      const originId = this.originId(entry.origin);
      const entryId = Number(
        s.insertEntry.run(originId, entry.seq, entry.hash, entry.operation, entry.keyEpoch, entry.createdAtMs, receivedAtMs, entry.signature, entry.body)
          .lastInsertRowid,
      );
      ids.push(entryId);
      const p = entry.publication;
      if (p) {
        s.insertPublication.run(entryId, p.kind, p.reason, p.exposed.join(','), p.confidence, p.validFromMs, p.validUntilMs, p.eventId);
        for (const indicator of p.indicators) {
          for (const selector of indicator.selectors) {
            selectorRows.push({ digest: selector.digest, entryId, type: selectorTypeNumbers[selector.type] as number });
          }
        }
      }
      const r = entry.retraction;
      if (r) for (const selector of r.selectors) s.insertRetraction.run(selector.digest, originId, entryId, r.reason);
      const ct = entry.cardTestingReport;
      if (ct) s.insertCardTestingReport.run(entryId, entry.origin, ct.bin, ct.bucketStartMs, ct.bucketMinutes, ct.attempts, ct.declines, ct.merchant?.digest ?? null);
      if (entry.sightings) this.sightings.record(entryId, originId, entry.sightings);
      if (entry.keyEpochAck) s.insertKeyEpochAck.run(entry.origin, entry.keyEpochAck.epoch, entryId, entry.createdAtMs);
      entry.commonPointFlags?.flags.forEach((f, i) =>
        s.insertCommonPointFlag.run(entryId, i, f.merchant.digest, selectorTypeNumbers[f.merchant.type], f.issuers, f.fraudCards, f.expectedFraudCards, f.pValue, f.windowStartMs, f.windowEndMs),
      );
      const oc = entry.oprfEvaluationCounts;
      oc?.counts.forEach((c, i) => s.insertOprfCount.run(entryId, i, entry.origin, c.member, c.bin, oc.bucketStartMs, oc.bucketSeconds, c.band));
      if (this.derivedKey) {
        // In the same transaction as the rows: a digest row always describes rows that were written.
        const d = expectedDigest(this.derivedKey, { entryId, entryHash: entry.hash, originId }, derivedRowsOfAccepted(entry));
        s.insertDerivedDigest.run(entryId, d.selectorRows, d.selectorsHash, d.digest);
      }
    }
    // In key order, the inserts of a transaction touch each B-tree page once.
    for (const i of digestOrder(selectorRows)) {
      const row = selectorRows[i] as (typeof selectorRows)[number];
      s.insertSelector.run(row.digest, row.entryId, row.type);
    }
    this.recentRows += selectorRows.length;
    if (this.cachedCounts) {
      this.cachedCounts.entries += entries.length;
      this.cachedCounts.indicators += selectorRows.length;
    }
    return ids;
  }

  private loadOrigins(): void {
    this.originIds.clear();
    this.originNames.clear();
    for (const row of this.db.prepare('SELECT id, member FROM origins').all() as { id: number; member: string }[]) {
      this.originIds.set(row.member, row.id);
      this.originNames.set(row.id, row.member);
    }
  }

  private originId(member: string): number {
    let id = this.originIds.get(member);
    if (id === undefined) {
      id = Number(this.statements.insertOrigin.run(member).lastInsertRowid);
      this.originIds.set(member, id);
      this.originNames.set(id, member);
    }
    return id;
  }

  /** Every listing of a digest by any origin, with whether its origin later retracted it. */
  listings(digest: Buffer): StoredListing[] {
    const rows = this.statements.listings.all({ digest }) as ListingRow[];
    return rows.map((row) => ({
      originId: row.originId,
      origin: this.originNames.get(row.originId) ?? '',
      seq: row.seq,
      entryId: row.entryId,
      createdAtMs: row.createdAtMs,
      selectorType: selectorTypeNames[row.type] ?? 'SELECTOR_TYPE_UNSPECIFIED',
      kind: row.kind,
      reason: row.reason,
      exposed: row.exposed === '' ? [] : row.exposed.split(','),
      confidence: row.confidence,
      validFromMs: row.validFromMs,
      validUntilMs: row.validUntilMs,
      eventId: row.eventId,
      retracted: row.retracted === 1,
    }));
  }

  /** Every origin's sightings of a digest (one per origin and outcome), with origin names. */
  sightingsOf(digest: Buffer): (StoredSighting & { origin: string })[] {
    return this.sightings.of(digest).map((s) => ({ ...s, origin: this.originNames.get(s.originId) ?? '' }));
  }

  /** Head of every origin's feed as stored. */
  heads(): Map<string, FeedHead> {
    const heads = new Map<string, FeedHead>();
    for (const row of this.statements.heads.all() as { origin: string; seq: number; hash: Buffer }[]) {
      heads.set(row.origin, { seq: row.seq, hash: row.hash });
    }
    return heads;
  }

  /** Entries in commit order, one page at a time (.all(), so no read stays open across pages). */
  entriesAfter(afterId: number, limit: number): StoredEntryPage[] {
    return this.statements.entryPage.all(afterId, limit) as StoredEntryPage[];
  }

  /** Hash of the entry at a row id (hex), or '' when there is none. */
  entryHashById(id: number): string {
    const hash = this.statements.entryHashById.get(id) as Buffer | undefined;
    return hash ? hash.toString('hex') : '';
  }

  maxEntryId(): number {
    return (this.statements.maxEntryId.get() as { id: number }).id;
  }

  /** Counted once, then kept by the writer: COUNT(*) over 10^6 rows would stall status calls. */
  counts(): { entries: number; indicators: number } {
    this.cachedCounts ??= {
      entries: (this.statements.countEntries.get() as { n: number }).n,
      indicators: (this.statements.countSelectors.get() as { n: number }).n,
    };
    return { ...this.cachedCounts };
  }

  /** Every stored digest, for rebuilding the filter; after an entry id when catching up. */
  *digests(afterEntryId = 0): IterableIterator<Buffer> {
    const statement = afterEntryId > 0 ? this.statements.digestsAfter : this.statements.allDigests;
    const rows = (afterEntryId > 0 ? statement.iterate({ after: afterEntryId }) : statement.iterate()) as IterableIterator<[Buffer]>;
    for (const row of rows) yield row[0];
  }

  /**
   * Digests of the large table after a digest, in order, one page at a time (.all(), so
   * no read stays open between pages and writes go on meanwhile).
   */
  mainDigestsAfter(after: Buffer, limit: number): Buffer[] {
    return (this.statements.mainDigestPage.all(after, limit) as [Buffer][]).map((row) => row[0]);
  }

  recentDigests(): Buffer[] {
    return (this.statements.recentDigests.all() as [Buffer][]).map((row) => row[0]);
  }

  /** One stored entry, as signed. */
  entryAt(origin: string, seq: number): { hash: Buffer; body: Buffer; signature: Buffer } | undefined {
    return this.statements.entryAt.get(origin, seq) as { hash: Buffer; body: Buffer; signature: Buffer } | undefined;
  }

  /** A page of one origin's entries from a seq on, in order (.all(): no read stays open). */
  entriesOf(origin: string, fromSeq: number, limit: number): { seq: number; body: Buffer; signature: Buffer }[] {
    return this.statements.entriesOf.all(origin, fromSeq, limit) as { seq: number; body: Buffer; signature: Buffer }[];
  }

  /** Keeps the second signed entry as evidence and freezes its origin, in one transaction. */
  recordEquivocation(evidence: {
    origin: string;
    seq: number;
    storedHash: Buffer;
    otherHash: Buffer;
    otherBody: Buffer;
    otherSignature: Buffer;
    reportedBy: string;
  }): void {
    const s = this.statements;
    const now = Date.now();
    this.db.transaction(() => {
      s.insertEquivocation.run(evidence.origin, evidence.seq, evidence.storedHash, evidence.otherHash, evidence.otherBody, evidence.otherSignature, evidence.reportedBy, now);
      s.freeze.run(evidence.origin, now, `equivocation at seq ${evidence.seq}`);
    })();
  }

  frozenOrigins(): { origin: string; sinceMs: number; reason: string }[] {
    return this.statements.frozen.all() as { origin: string; sinceMs: number; reason: string }[];
  }

  equivocationsOf(origin: string): number {
    return (this.statements.equivocationCount.get(origin) as { n: number }).n;
  }

  /** An operator's decision to accept an origin's entries again; the evidence stays. */
  unfreeze(origin: string): boolean {
    return this.statements.unfreeze.run(origin).changes > 0;
  }

  integrityCheck(): string {
    return this.db.pragma('integrity_check', { simple: true }) as string;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

const INDEX_SPACE = 2 ** 22;

/**
 * Row indexes in order of their digests' first 31 bits, sorted as numbers: a comparator
 * calling Buffer.compare cost ~1 s per 10^6 rows, a native Float64Array sort a few ms.
 * Digests sharing 31 bits keep their input order, which only affects locality.
 */
function digestOrder(rows: readonly { digest: Buffer }[]): Uint32Array {
  const n = rows.length;
  const order = new Uint32Array(n);
  if (n >= INDEX_SPACE) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order;
  }
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = ((rows[i] as { digest: Buffer }).digest.readUInt32BE(0) >>> 1) * INDEX_SPACE + i;
  keys.sort();
  for (let i = 0; i < n; i++) order[i] = (keys[i] as number) % INDEX_SPACE;
  return order;
}
