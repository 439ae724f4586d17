// The node's side of derived-state integrity: the rows a Check reads (publications,
// selectors, selectors_recent, retractions) and the filter snapshot, checked against the
// signed entries they derive from (verify-derived.ts, under the node-local key of node-key.ts).
//
// At start (open-node.ts, before the filter loads): digest rows missing (an upgrade, or a store
// written without the key) are derived from the signed entries; then the quick check, O(entries);
// when the selector tables do not hold the rows the digests count, the full check, which finds
// the entries concerned. The scrub runs the full check in its worker once per pass.
//
// Whatever is found is logged (entry origin and seq, the reason; never a row), counted in
// Status and the metrics, and repaired at once from the signed entry: its rows deleted and
// derived again from its verified body, its digests added to the filter. An entry whose body
// does not verify is left to the entry scrub (it is repaired from a peer first); the node
// refuses to start when damage found at start cannot be repaired, naming the entry — a Check
// never answers from rows known to be wrong.
import type { Logger } from 'pino';
import { entryHash } from '../../../proto/ts/trust/domains';
import { verifyEntry } from '../../../proto/ts/trust/verify';
import type { MemberKeys } from '../ledger/acceptance';
import type { LedgerStore } from '../store/ledger-store';
import { derivedRowsOfBody, expectedDigest } from './derived-rows';
import { fullDerivedCheck, quickDerivedCheck, type DerivedDamage } from './verify-derived';

export interface DerivedStateStats {
  /** Entries whose derived rows were found to differ from the signed entry (at start and by the scrub). */
  damaged: number;
  /** Of those, repaired from the signed entry. */
  repaired: number;
  /** Rows removed that belonged to no entry (counted per entry id). */
  orphansRemoved: number;
  /** Filter snapshots rejected because their MAC did not verify. */
  snapshotsRejected: number;
  /** Entries found damaged and not repaired yet (their body is damaged too: the entry scrub repairs it first). */
  unrepaired: number;
  /** Full checks run (at start and by the scrub) and the duration of the last one. */
  fullChecks: number;
  lastFullCheckMs: number;
  /** Duration of the start-up check. */
  startUpCheckMs: number;
}

export class DerivedStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerivedStateError';
  }
}

export class DerivedState {
  readonly stats: DerivedStateStats = { damaged: 0, repaired: 0, orphansRemoved: 0, snapshotsRejected: 0, unrepaired: 0, fullChecks: 0, lastFullCheckMs: 0, startUpCheckMs: 0 };
  private readonly unrepaired = new Set<number>();
  private addToFilter: ((digests: Buffer[]) => void) | undefined;
  /** Digests repaired before the filter existed (at start): added once it does. */
  private pendingDigests: Buffer[] = [];

  constructor(
    private readonly store: LedgerStore,
    readonly key: Buffer,
    private readonly keysOf: (origin: string) => MemberKeys | undefined,
    private readonly log: Logger,
  ) {}

  /** From now on, repaired selectors go straight into the filter (and those repaired at start now). */
  attachFilter(add: (digests: Buffer[]) => void): void {
    this.addToFilter = add;
    if (this.pendingDigests.length > 0) add(this.pendingDigests.splice(0));
  }

  /**
   * The start-up check (see the file header). Throws DerivedStateError naming the entries when
   * damage is found that cannot be repaired from the signed entries here.
   */
  checkAtStart(): void {
    const started = Date.now();
    const db = this.store.db;
    const quick = quickDerivedCheck(db, this.key);
    if (quick.missing.length > 0) this.deriveMissing(quick.missing);
    for (const entryId of quick.orphans) this.dropOrphan(entryId, 'start-up');
    let damaged = quick.damaged;
    if (quick.selectorCount) {
      this.log.error({ storedSelectorRows: quick.selectorCount.stored, digestSelectorRows: quick.selectorCount.digests }, 'derived state damaged: the selector tables do not hold the rows the signed entries give; checking every entry');
    }
    if (quick.selectorCount || quick.missing.length > 0) {
      const full = this.runFullCheck(db);
      for (const entryId of full.orphans) this.dropOrphan(entryId, 'start-up');
      const seen = new Set(damaged.map((d) => d.entryId));
      damaged = [...damaged, ...full.damaged.filter((d) => !seen.has(d.entryId))];
    }
    this.repairAll(damaged, 'start-up');
    this.stats.startUpCheckMs = Date.now() - started;
    if (this.unrepaired.size > 0) {
      const named = [...this.unrepaired].map((id) => this.name(id)).join(', ');
      throw new DerivedStateError(`derived state damaged and not repairable from the stored entries: ${named}; restore the database from a backup or delete it to fetch the ledger from peers`);
    }
  }

  /** The full check on a connection (the node's own: at start). */
  runFullCheck(db: LedgerStore['db']): ReturnType<typeof fullDerivedCheck> {
    const started = Date.now();
    const result = db.transaction(() => fullDerivedCheck(db, this.key))();
    this.fullCheckRan(Date.now() - started);
    return result;
  }

  fullCheckRan(ms: number): void {
    this.stats.fullChecks++;
    this.stats.lastFullCheckMs = ms;
  }

  /** A filter snapshot whose MAC did not verify was rejected (the filter was rebuilt from the store). */
  snapshotRejected(detail: string): void {
    this.stats.snapshotsRejected++;
    this.log.error({ detail }, 'derived state damaged: the filter snapshot fails its MAC; rejected, the filter was rebuilt from the store');
  }

  /** Repairs what a check found: each entry's rows derived again from its signed body. */
  repairAll(damaged: readonly DerivedDamage[], source: 'start-up' | 'scrub'): void {
    for (const d of damaged) this.repair(d, source);
  }

  dropOrphan(entryId: number, source: 'start-up' | 'scrub'): void {
    if (this.store.entryById(entryId)) return; // an entry committed since the check read
    this.store.dropDerivedRows(entryId);
    this.stats.orphansRemoved++;
    this.log.error({ entryId, source }, 'derived state damaged: rows of no stored entry removed');
  }

  status(): { damaged: number; repaired: number; unrepaired: number; orphansRemoved: number; snapshotsRejected: number; fullChecks: number } {
    const s = this.stats;
    return { damaged: s.damaged, repaired: s.repaired, unrepaired: this.unrepaired.size, orphansRemoved: s.orphansRemoved, snapshotsRejected: s.snapshotsRejected, fullChecks: s.fullChecks };
  }

  private repair(d: DerivedDamage, source: 'start-up' | 'scrub'): boolean {
    const entry = this.store.entryById(d.entryId);
    if (!entry) return false;
    if (!this.unrepaired.has(d.entryId)) this.stats.damaged++;
    const where = { origin: entry.origin, seq: entry.seq, entryId: d.entryId, reason: d.reason, source };
    const keys = this.keysOf(entry.origin);
    // The body is the source of the repair: only one that is the signed, chained original.
    if (!keys || !entryHash(entry.body).equals(entry.hash) || !verifyEntry(entry, keys.signingPublicKey)) {
      this.unrepaired.add(d.entryId);
      this.stats.unrepaired = this.unrepaired.size;
      this.log.error(where, 'derived state damaged: the rows of an entry differ from it, and its stored body does not verify; not repaired yet');
      return false;
    }
    const rows = derivedRowsOfBody(entry.body);
    const digest = expectedDigest(this.key, { entryId: entry.id, entryHash: entry.hash, originId: entry.originId }, rows);
    this.store.replaceDerivedRows(entry.id, entry.originId, rows, digest);
    this.unrepaired.delete(d.entryId);
    this.stats.unrepaired = this.unrepaired.size;
    this.stats.repaired++;
    const digests = rows.selectors.map((s) => s.digest);
    if (digests.length > 0) {
      if (this.addToFilter) this.addToFilter(digests);
      else this.pendingDigests.push(...digests);
    }
    this.log.error({ ...where, selectorRows: digest.selectorRows }, 'derived state damaged: the rows of an entry differed from it; rebuilt from the signed entry');
    return true;
  }

  /** Digest rows for entries stored without one, derived from their signed bodies (not from their rows). */
  private deriveMissing(ids: readonly number[]): void {
    const started = Date.now();
    const digests = [];
    for (const id of ids) {
      const entry = this.store.entryById(id);
      if (!entry) continue;
      try {
        digests.push({ entryId: id, digest: expectedDigest(this.key, { entryId: id, entryHash: entry.hash, originId: entry.originId }, derivedRowsOfBody(entry.body)) });
      } catch {
        // A body that does not decode fails start-up verification first; nothing to derive.
      }
    }
    this.store.writeDerivedDigests(digests);
    this.log.info({ entries: digests.length, ms: Date.now() - started }, 'derived-state digests computed from the signed entries (first start with them, or a new node-local key)');
  }

  private name(entryId: number): string {
    const e = this.store.entryById(entryId);
    return e ? `${e.origin}#${e.seq} (row ${entryId})` : `row ${entryId}`;
  }
}
