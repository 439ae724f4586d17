// The background scrub: walks every stored entry in id order, a slice at a time with a pause
// between slices, re-verifying what start-up verifies (verify-ledger.ts: signature, seq and
// prev chain, stored hash column). The walk and, once per pass, PRAGMA quick_check run in a
// worker thread on a read-only connection (scrub-worker.ts), so checks never wait for them.
// An entry that fails is marked damaged and repaired here, on the node's connection, from a
// copy that provably is the entry the chain expects; what finds no such copy stays marked
// and is reported in Status.
//
// Once per pass, after the walk, the worker also derives every entry's rows again from its
// signed body and compares them with the stored rows a Check reads (verify-derived.ts); what
// differs is repaired here from the signed entry (derived-state.ts), and the filter updated.
// A pass that found nothing damaged records a verification checkpoint (verification-checkpoint.ts):
// the next start verifies only the entries after it. The first pass begins as the node starts.
//
// Which stored fields are trusted for a repair: the entry's own body, signature and hash
// column are all suspect. The strongest anchor is the `prev` inside the NEXT entry's body
// when that entry's signature verifies: the origin signed it, and a disk cannot forge that.
// An origin's newest entry has no successor; its anchor is its own hash column, a separate
// column that a damaged body (or signature) leaves intact, and the same hash the node
// announces to peers in Heads. A copy is accepted only if BLAKE2b(body) equals the anchor
// AND the origin's signature over it verifies, so it can only be the original bytes.
import type { Logger } from 'pino';
import { verifyEntry } from '../../../proto/ts/trust/verify';
import type { MemberKeys } from '../ledger/acceptance';
import { readEntryHeader } from '../ledger/entry';
import { sleep } from '../../../proto/ts/backoff';
import type { RawEntry } from '../replication/types';
import type { DamagedEntryStore } from './damaged-entries';
import type { DerivedState } from './derived-state';
import type { LedgerStore } from '../store/ledger-store';
import type { FeedHead } from '../ledger/entry';
import type { VerificationCheckpoints } from './verification-checkpoint';
import type { DamagedEntryReport } from './scrub-protocol';
import { ScrubWorkerClient } from './scrub-worker-client';
import { isOriginalCopy } from './verify-ledger';

export interface ScrubOptions {
  /** Pause between the end of one pass and the start of the next. */
  intervalMs: number;
  /** Entries verified per slice. */
  entriesPerSlice: number;
  /** Pause between slices: bounds the CPU the worker takes from the node on a small machine. */
  sliceDelayMs: number;
}

/** Each reachable peer's copy of one entry, one peer at a time. */
export type PeerCopies = (origin: string, seq: number) => AsyncIterable<{ peer: string; entry: RawEntry }>;

export interface ScrubStats {
  passes: number;
  entriesVerified: number;
  /** Entries newly found damaged (an entry still damaged at the next pass is not counted again). */
  damaged: number;
  repaired: number;
  quickCheckFailures: number;
  lastPassMs: number;
}

/** Problems quick_check lists at most (it stops counting there). */
const QUICK_CHECK_MAX_ERRORS = 20;

export interface ScrubDeps {
  store: LedgerStore;
  damage: DamagedEntryStore;
  /** Keys of every origin whose stored entries verify: current and former members. */
  members: () => Map<string, MemberKeys>;
  databaseFile: string;
  log: Logger;
  /** The derived-state check, once per pass (absent: entries only). */
  derived?: DerivedState;
  /** Where a pass that found nothing damaged records how far it verified (absent: not recorded). */
  checkpoints?: VerificationCheckpoints;
}

export class LedgerScrub {
  readonly stats: ScrubStats = { passes: 0, entriesVerified: 0, damaged: 0, repaired: 0, quickCheckFailures: 0, lastPassMs: 0 };
  private readonly worker: ScrubWorkerClient;
  /** The worker generation whose walk is the current pass (undefined: begin a new pass). */
  private passGeneration: number | undefined;
  private walkPosition = 0;
  /** Entries found damaged in the current pass (origin, seq). */
  private foundThisPass = new Set<string>();
  private passStartedMs = Date.now();
  private loop: Promise<void> | undefined;
  private stopper = new AbortController();
  private quickCheckOpen = false;
  private peerCopies: PeerCopies = async function* () {};

  constructor(
    private readonly deps: ScrubDeps,
    private readonly options: ScrubOptions,
  ) {
    this.worker = new ScrubWorkerClient(deps.databaseFile);
  }

  /** Row id of the last entry the current pass has verified. */
  get position(): number {
    return this.walkPosition;
  }

  /** True while quick_check holds a read open on its own connection (the WAL cannot be truncated). */
  get longReadOpen(): boolean {
    return this.quickCheckOpen;
  }

  /** Runs passes until stop(); resumes where a previous stop() left the walk. */
  start(peerCopies?: PeerCopies): void {
    if (peerCopies) this.peerCopies = peerCopies;
    if (this.loop) return;
    this.stopper = new AbortController();
    const signal = this.stopper.signal;
    this.loop = (async () => {
      while (!signal.aborted) {
        let pause = this.options.intervalMs;
        try {
          const { passEnded } = await this.slice();
          if (!passEnded) pause = this.options.sliceDelayMs;
        } catch (error) {
          if (signal.aborted) break;
          this.deps.log.error({ err: error }, 'scrub slice failed; retrying after the pass interval');
        }
        await sleep(pause, signal);
      }
    })();
  }

  /** Stops the loop; a later start() resumes the pass where it stopped. */
  async stop(): Promise<void> {
    this.stopper.abort();
    const loop = this.loop;
    this.loop = undefined;
    await loop;
  }

  /** Stops for good: also ends the worker thread. */
  async close(): Promise<void> {
    await this.stop();
    await this.worker.close();
  }

  private get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  /**
   * Verifies the next slice of entries and repairs what it finds damaged; at the end of the
   * ledger, finishes the pass (quick_check, marks no longer damaged, repairs still owed) and
   * starts the next from the first entry.
   */
  async slice(): Promise<{ walked: number; damaged: DamagedEntryReport[]; passEnded: boolean }> {
    if (this.passGeneration === undefined || this.passGeneration !== this.worker.generation) {
      // A new pass, or the worker thread was restarted and its walk lost: from the first entry.
      await this.worker.begin(this.deps.members());
      this.passGeneration = this.worker.generation;
      this.walkPosition = 0;
      this.foundThisPass = new Set();
      this.passStartedMs = Date.now();
    }
    const { walked, damaged, position, heads } = await this.worker.next(this.options.entriesPerSlice, this.stopper.signal);
    this.walkPosition = position;
    this.stats.entriesVerified += walked;
    for (const d of damaged) this.found(d);
    for (const d of damaged) await this.repair(d.origin, d.seq);
    if (walked > 0) return { walked, damaged, passEnded: false };
    await this.finishPass(position, heads);
    return { walked, damaged, passEnded: true };
  }

  private found(d: DamagedEntryReport): void {
    this.foundThisPass.add(key(d.origin, d.seq));
    if (!this.deps.damage.mark(d.origin, d.seq, d.reason)) return;
    this.stats.damaged++;
    // Origin, seq and the reason only: never the stored bytes.
    this.deps.log.error({ origin: d.origin, seq: d.seq, row: d.id, reason: d.reason }, 'scrub: stored entry is damaged; repairing from a peer');
  }

  private async finishPass(position: number, heads: Map<string, FeedHead> | undefined): Promise<void> {
    await this.checkDerived();
    if (this.stopped) return;
    const fileSound = await this.runQuickCheck();
    if (this.stopped) return;
    // A mark the whole pass walked past without finding damage was repaired some other way.
    for (const mark of this.deps.damage.list()) {
      if (!this.foundThisPass.has(key(mark.origin, mark.seq)) && this.deps.store.entryAt(mark.origin, mark.seq)) {
        this.deps.damage.clear(mark.origin, mark.seq);
      }
    }
    await this.repairMarked();
    if (this.stopped) return;
    // Only a pass that walked every entry, found none damaged and a sound file vouches for them all.
    if (heads && fileSound && this.foundThisPass.size === 0 && this.deps.damage.count() === 0) this.deps.checkpoints?.record(position, heads);
    this.stats.passes++;
    this.stats.lastPassMs = Date.now() - this.passStartedMs;
    this.deps.log.debug({ passMs: this.stats.lastPassMs, damaged: this.deps.damage.count() }, 'scrub pass finished');
    this.passGeneration = undefined;
    this.walkPosition = 0;
  }

  private async checkDerived(): Promise<void> {
    const derived = this.deps.derived;
    if (!derived) return;
    this.quickCheckOpen = true; // one read transaction over every derived row: the WAL must not be truncated meanwhile
    try {
      const result = await this.worker.derived(derived.key, this.stopper.signal);
      derived.fullCheckRan(result.ms);
      for (const entryId of result.orphans) derived.dropOrphan(entryId, 'scrub');
      derived.repairAll(result.damaged, 'scrub');
      this.deps.log.debug({ entries: result.entries, selectorRows: result.selectorRows, damaged: result.damaged.length, ms: result.ms }, 'scrub: derived state checked against the signed entries');
    } catch (error) {
      if (!this.stopped) this.deps.log.warn({ err: error }, 'scrub: the derived-state check could not run');
    } finally {
      this.quickCheckOpen = false;
    }
  }

  /** True when quick_check ran and found nothing. */
  private async runQuickCheck(): Promise<boolean> {
    this.quickCheckOpen = true;
    try {
      const problems = await this.worker.quickCheck(QUICK_CHECK_MAX_ERRORS, this.stopper.signal);
      if (problems.length > 0) {
        this.stats.quickCheckFailures++;
        this.deps.log.error({ problems }, 'scrub: SQLite quick_check reports damage in the database file');
      }
      return problems.length === 0;
    } catch (error) {
      if (!this.stopped) this.deps.log.warn({ err: error }, 'scrub: quick_check could not run');
      return false;
    } finally {
      this.quickCheckOpen = false;
    }
  }

  /** Tries to repair every marked entry; returns how many were repaired. */
  async repairMarked(): Promise<number> {
    let repaired = 0;
    for (const mark of this.deps.damage.list()) {
      if (this.stopped) break;
      if (await this.repair(mark.origin, mark.seq)) repaired++;
    }
    return repaired;
  }

  /**
   * Replaces a damaged entry with the first copy that is provably the original: the node's
   * own stored copy first (only a column beside it may be damaged), then each peer's.
   */
  async repair(origin: string, seq: number): Promise<boolean> {
    const stored = this.deps.store.entryAt(origin, seq);
    const members = this.deps.members();
    const keys = members.get(origin);
    if (!stored || !keys) return false;
    const expected = this.expectedHash(origin, seq, stored.hash, keys.signingPublicKey);
    const isOriginal = (copy: RawEntry) => isOriginalCopy(copy, origin, seq, expected, (o) => members.get(o));
    let source: string | undefined = isOriginal(stored) ? 'own copy' : undefined;
    let copy: RawEntry = stored;
    if (!source) {
      for await (const candidate of this.peerCopies(origin, seq)) {
        if (this.stopped) return false;
        if (isOriginal(candidate.entry)) {
          source = `peer ${candidate.peer}`;
          copy = candidate.entry;
          break;
        }
        this.deps.log.warn({ origin, seq, peer: candidate.peer }, 'scrub: a peer\'s copy of a damaged entry is not the original; not used');
      }
    }
    if (!source || this.stopped) {
      if (!this.stopped) this.deps.log.warn({ origin, seq }, 'scrub: no good copy of a damaged entry yet; it stays marked');
      return false;
    }
    this.deps.damage.repair(origin, seq, { body: copy.body, signature: copy.signature, hash: expected });
    this.stats.repaired++;
    this.deps.log.info({ origin, seq, from: source }, 'scrub: damaged entry repaired');
    return true;
  }

  /** The hash the chain expects at origin/seq: the successor's signed prev, else the stored hash column. */
  private expectedHash(origin: string, seq: number, hashColumn: Buffer, signingPublicKey: Uint8Array): Buffer {
    const next = this.deps.store.entryAt(origin, seq + 1);
    if (next) {
      try {
        const header = readEntryHeader(next.body);
        if (header.origin === origin && header.seq === seq + 1 && verifyEntry(next, signingPublicKey)) {
          return header.prev;
        }
      } catch {
        // The successor is damaged too: fall back to the hash column.
      }
    }
    return hashColumn;
  }
}

function key(origin: string, seq: number): string {
  return `${origin}\0${seq}`;
}
