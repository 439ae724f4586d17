// Checks the rows a verdict reads (publications, selectors, selectors_recent, retractions)
// against the entries they derive from. Two depths:
//  - quickDerivedCheck (every start, O(entries)): each entry's digest row verifies under the
//    node-local key against its stored publication and retraction rows and its stored
//    selector count and hash; the selector tables hold exactly as many rows as the digests
//    count; no row belongs to an entry that does not exist. A row deleted, inserted or edited
//    in publications or retractions, or a selector row deleted or inserted, is found here.
//  - fullDerivedCheck (the scrub, in its worker; and at start when the selector count is off):
//    every entry's rows derived again from its signed body and compared with every stored row,
//    so a selector row edited in place (the count unchanged) is found too.
// Both only read; what they find is repaired by integrity/derived-state.ts from the signed entry.
import type Database from 'better-sqlite3';
import { DERIVED_SELECTOR_RECORD_BYTES, DIGEST_BYTES, derivedSelectorsHash } from '../../../proto/ts/trust/domains';
import { derivedRowsOfBody, expectedDigest, rowsMac, sameBytes, sameDigest, sortRecords, type EntryDigest, type PublicationRow } from './derived-rows';

/** An entry whose derived rows (or digest row) differ from what it says. */
export interface DerivedDamage {
  entryId: number;
  reason: string;
}

export interface QuickCheckResult {
  /** Entries with no digest row yet (written by a store opened without the key, or before the upgrade). */
  missing: number[];
  damaged: DerivedDamage[];
  /** Ids that are not entries but have rows in a derived table. */
  orphans: number[];
  /** Selector rows stored, and counted by the digests, when the two differ. */
  selectorCount?: { stored: number; digests: number };
}

export interface FullCheckResult {
  entries: number;
  selectorRows: number;
  damaged: DerivedDamage[];
  orphans: number[];
}

interface RetractionRow {
  digest: unknown;
  originId: unknown;
  entryId: number;
  reason: unknown;
}
type GoodRetraction = RetractionRow & { digest: Buffer };

const PUBLICATION_COLUMNS =
  'p.kind AS kind, p.reason AS reason, p.exposed AS exposed, p.confidence AS confidence, p.valid_from_ms AS validFromMs, p.valid_until_ms AS validUntilMs, p.event_id AS eventId';

/** Entries marked damaged by the entry scrub: their bodies are not trusted to derive rows from. */
function damagedEntryIds(db: Database.Database): Set<number> {
  const rows = db
    .prepare('SELECT e.id FROM damaged_entries d JOIN origins o ON o.member = d.origin JOIN entries e ON e.origin_id = o.id AND e.seq = d.seq')
    .pluck(true)
    .all() as number[];
  return new Set(rows);
}

function orphanIds(db: Database.Database): Set<number> {
  return new Set(
    db
      .prepare(
        `SELECT entry_id FROM publications WHERE entry_id NOT IN (SELECT id FROM entries)
         UNION SELECT entry_id FROM retractions WHERE entry_id NOT IN (SELECT id FROM entries)
         UNION SELECT entry_id FROM derived_digests WHERE entry_id NOT IN (SELECT id FROM entries)`,
      )
      .pluck(true)
      .all() as number[],
  );
}

/** Retraction rows grouped by entry id (a small table: retractions are rare). */
function retractionsByEntry(db: Database.Database, range?: [number, number]): Map<number, RetractionRow[]> {
  const sql = 'SELECT digest, origin_id AS originId, entry_id AS entryId, reason FROM retractions';
  const rows = (range ? db.prepare(`${sql} WHERE entry_id BETWEEN ? AND ?`).all(range[0], range[1]) : db.prepare(sql).all()) as RetractionRow[];
  const byEntry = new Map<number, RetractionRow[]>();
  for (const r of rows) {
    const list = byEntry.get(r.entryId);
    if (list) list.push(r);
    else byEntry.set(r.entryId, [r]);
  }
  return byEntry;
}

function wellFormed(retractions: readonly RetractionRow[]): retractions is GoodRetraction[] {
  return retractions.every((r) => Buffer.isBuffer(r.digest) && r.digest.length === DIGEST_BYTES);
}

function pick(p: PublicationRow): PublicationRow {
  return { kind: p.kind, reason: p.reason, exposed: p.exposed, confidence: p.confidence, validFromMs: p.validFromMs, validUntilMs: p.validUntilMs, eventId: p.eventId };
}

/** The cheap check of every start (see the file header). */
export function quickDerivedCheck(db: Database.Database, key: Uint8Array): QuickCheckResult {
  const skip = damagedEntryIds(db);
  const missing = db.prepare('SELECT e.id FROM entries e LEFT JOIN derived_digests d ON d.entry_id = e.id WHERE d.entry_id IS NULL').pluck(true).all() as number[];
  const missingSet = new Set(missing);
  const retractions = retractionsByEntry(db);
  const damaged: DerivedDamage[] = [];
  let counted = 0;
  const rows = db
    .prepare(
      `SELECT d.entry_id AS entryId, d.selector_rows AS selectorRows, d.selectors_hash AS selectorsHash, d.digest AS digest,
              e.hash AS entryHash, e.origin_id AS originId, p.entry_id AS publicationOf, ${PUBLICATION_COLUMNS}
       FROM derived_digests d JOIN entries e ON e.id = d.entry_id LEFT JOIN publications p ON p.entry_id = d.entry_id`,
    )
    .iterate() as IterableIterator<{ entryId: number; selectorRows: unknown; selectorsHash: unknown; digest: unknown; entryHash: Buffer; originId: number; publicationOf: number | null } & PublicationRow>;
  for (const row of rows) {
    const rets = retractions.get(row.entryId) ?? [];
    retractions.delete(row.entryId);
    if (skip.has(row.entryId)) {
      counted += typeof row.selectorRows === 'number' ? row.selectorRows : 0;
      continue;
    }
    const n = row.selectorRows;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || !Buffer.isBuffer(row.selectorsHash) || !wellFormed(rets)) {
      damaged.push({ entryId: row.entryId, reason: 'its digest row or retraction rows are malformed' });
      continue;
    }
    // The selector count and hash are taken as stored: the MAC covers them, and the full check compares them with the rows.
    const selectors = { selectorRows: n, selectorsHash: row.selectorsHash };
    const publication = row.publicationOf === null ? undefined : pick(row);
    const mac = rowsMac(key, row, selectors, publication, rets);
    if (!sameBytes(mac, row.digest)) damaged.push({ entryId: row.entryId, reason: 'its publication or retraction rows, or its digest row, differ from what was written' });
    else counted += n;
  }
  // Retraction rows left over belong to entries with no digest row (derived anew by the caller) or to no entry.
  const orphans = orphanIds(db);
  for (const entryId of retractions.keys()) if (!missingSet.has(entryId)) orphans.add(entryId);
  const result: QuickCheckResult = { missing, damaged, orphans: [...orphans] };
  if (missing.length === 0 && damaged.length === 0) {
    const stored = db.prepare('SELECT (SELECT COUNT(*) FROM selectors) + (SELECT COUNT(*) FROM selectors_recent)').pluck(true).get() as number;
    if (stored !== counted) result.selectorCount = { stored, digests: counted };
  }
  return result;
}

interface Expected {
  digest: EntryDigest;
  entryHash: Buffer;
  originId: number;
}

/**
 * Derives every entry's rows again from its signed body and compares them with every stored
 * row, a chunk of entries at a time (about `maxRowsPerChunk` selector rows held in memory).
 * Run it inside one read transaction so that commits meanwhile are not seen half-way.
 */
export function fullDerivedCheck(db: Database.Database, key: Uint8Array, options: { maxRowsPerChunk?: number } = {}): FullCheckResult {
  const maxRows = options.maxRowsPerChunk ?? 1_000_000;
  const skip = damagedEntryIds(db);
  const entryPage = db.prepare('SELECT id, origin_id AS originId, hash, body FROM entries WHERE id > ? ORDER BY id LIMIT 256');
  const damaged: DerivedDamage[] = [];
  const orphans = new Set<number>();
  let entries = 0;
  let selectorRowsSeen = 0;
  let after = Number.MIN_SAFE_INTEGER;
  let lo = Number.MIN_SAFE_INTEGER;
  for (let done = false; !done; ) {
    // Expected digests of a chunk of entries (null: not checked here).
    const expected = new Map<number, Expected | null>();
    let rowsInChunk = 0;
    while (rowsInChunk < maxRows) {
      const page = entryPage.all(after) as { id: number; originId: number; hash: Buffer; body: Buffer }[];
      if (page.length === 0) {
        done = true;
        break;
      }
      for (const e of page) {
        after = e.id;
        if (skip.has(e.id)) {
          expected.set(e.id, null);
          continue;
        }
        try {
          const digest = expectedDigest(key, { entryId: e.id, entryHash: e.hash, originId: e.originId }, derivedRowsOfBody(e.body));
          expected.set(e.id, { digest, entryHash: e.hash, originId: e.originId });
          rowsInChunk += digest.selectorRows;
        } catch {
          expected.set(e.id, null); // a body that does not decode is the entry scrub's to report
        }
      }
    }
    const hi = done ? Number.MAX_SAFE_INTEGER : after;
    const range: [number, number] = [lo, hi];
    // The stored selector rows of the chunk, into one buffer per entry sized by what it should hold.
    const stored = new Map<number, { records: Buffer; rows: number; malformed: boolean }>();
    for (const table of ['selectors', 'selectors_recent']) {
      const rows = db.prepare(`SELECT digest, entry_id, type FROM ${table} WHERE entry_id BETWEEN ? AND ?`).raw(true).iterate(lo, hi) as IterableIterator<[unknown, number, unknown]>;
      for (const [digest, entryId, type] of rows) {
        selectorRowsSeen++;
        const e = expected.get(entryId);
        if (e === undefined) {
          orphans.add(entryId);
          continue;
        }
        if (e === null) continue;
        let s = stored.get(entryId);
        if (!s) stored.set(entryId, (s = { records: Buffer.alloc(e.digest.selectorRows * DERIVED_SELECTOR_RECORD_BYTES), rows: 0, malformed: false }));
        if (!Buffer.isBuffer(digest) || digest.length !== DIGEST_BYTES || typeof type !== 'number') s.malformed = true;
        else if (s.rows < e.digest.selectorRows) {
          const at = s.rows * DERIVED_SELECTOR_RECORD_BYTES;
          digest.copy(s.records, at);
          s.records[at + DIGEST_BYTES] = type & 0xff;
          if (type !== (type & 0xff)) s.malformed = true;
        }
        s.rows++;
      }
    }
    const publications = new Map<number, PublicationRow>();
    for (const p of db.prepare(`SELECT p.entry_id AS entryId, ${PUBLICATION_COLUMNS} FROM publications p WHERE p.entry_id BETWEEN ? AND ?`).iterate(lo, hi) as IterableIterator<PublicationRow & { entryId: number }>) {
      publications.set(p.entryId, pick(p));
    }
    const retractions = retractionsByEntry(db, range);
    const digestRows = new Map<number, { selectorRows: unknown; selectorsHash: unknown; digest: unknown }>();
    for (const d of db.prepare('SELECT entry_id AS entryId, selector_rows AS selectorRows, selectors_hash AS selectorsHash, digest FROM derived_digests WHERE entry_id BETWEEN ? AND ?').iterate(lo, hi) as IterableIterator<{ entryId: number; selectorRows: unknown; selectorsHash: unknown; digest: unknown }>) {
      digestRows.set(d.entryId, d);
    }
    for (const id of [...publications.keys(), ...retractions.keys(), ...digestRows.keys()]) if (!expected.has(id)) orphans.add(id);
    for (const [entryId, e] of expected) {
      if (!e) continue;
      entries++;
      const s = stored.get(entryId);
      const rows = s?.rows ?? 0;
      const reason = ((): string | undefined => {
        if (s?.malformed) return 'a selector row is malformed';
        if (rows !== e.digest.selectorRows) return `${rows} selector rows stored, ${e.digest.selectorRows} in the signed entry`;
        const selectors = { selectorRows: rows, selectorsHash: derivedSelectorsHash(s ? sortRecords(s.records) : Buffer.alloc(0)) };
        if (!sameBytes(e.digest.selectorsHash, selectors.selectorsHash)) return 'its selector rows differ from the signed entry';
        const rets = retractions.get(entryId) ?? [];
        if (!wellFormed(rets)) return 'a retraction row is malformed';
        const mac = rowsMac(key, { entryId, entryHash: e.entryHash, originId: e.originId }, selectors, publications.get(entryId), rets);
        if (!sameBytes(e.digest.digest, mac)) return 'its publication or retraction rows differ from the signed entry';
        const row = digestRows.get(entryId);
        if (!row || !sameDigest(e.digest, row)) return 'its digest row differs from the signed entry';
        return undefined;
      })();
      if (reason) damaged.push({ entryId, reason });
    }
    lo = hi + 1;
  }
  return { entries, selectorRows: selectorRowsSeen, damaged, orphans: [...orphans] };
}
