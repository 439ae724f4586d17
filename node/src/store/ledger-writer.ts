// The node's one writer. Own publications and peers' entries are queued, prepared against
// the heads as they will be once everything before them commits, and committed together
// in one transaction (group commit); each is acknowledged only after that commit.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { AcceptedEntry } from '../ledger/acceptance';
import { ZERO_HASH, type FeedHead } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';
import type { LedgerStore } from './ledger-store';
import { storageFailure, type StorageFailure } from './storage-errors';
import type { SelectorIndex } from '../filter/selector-index';

/** The writes committed together, and what they change before the commit. */
export class WriteGroup {
  readonly entries: AcceptedEntry[] = [];
  /** Selectors this member publishes / retracts in the group (latin1 keys). */
  readonly published = new Set<string>();
  readonly retracted = new Set<string>();
  readonly now = Date.now();
  private readonly pendingHeads = new Map<string, FeedHead>();

  constructor(private readonly committedHeads: ReadonlyMap<string, FeedHead>) {}

  /** The head of an origin's feed once the entries already in the group commit. */
  head(origin: string): FeedHead {
    return this.pendingHeads.get(origin) ?? this.committedHeads.get(origin) ?? { seq: 0, hash: ZERO_HASH };
  }

  append(entry: AcceptedEntry): void {
    this.entries.push(entry);
    this.pendingHeads.set(entry.origin, { seq: entry.seq, hash: entry.hash });
  }

  /** Undoes the appends after `mark` entries: a write that fails leaves nothing behind. */
  rollbackTo(mark: number): void {
    if (this.entries.length === mark) return;
    this.entries.length = mark;
    this.pendingHeads.clear();
    for (const e of this.entries) this.pendingHeads.set(e.origin, { seq: e.seq, hash: e.hash });
  }

  heads(): ReadonlyMap<string, FeedHead> {
    return this.pendingHeads;
  }
}

interface PendingWrite {
  prepare: (group: WriteGroup) => () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Bounds one commit so a burst of writers cannot make a single transaction huge. */
const MAX_WRITES_PER_COMMIT = 32;

export interface LedgerWriterEvents {
  /** Entries just committed, in commit order: own and peers' (what Follow relays). */
  committed: [entries: readonly AcceptedEntry[]];
}

export class LedgerWriter extends EventEmitter<LedgerWriterEvents> {
  private readonly queue: PendingWrite[] = [];
  private flushScheduled = false;
  private closed = false;
  /** Set while the last commit was refused for lack of room (metrics, one log line per episode). */
  private storageFullSinceMs: number | undefined;
  private storageRefusals = 0;

  constructor(
    private readonly store: LedgerStore,
    private readonly heads: Map<string, FeedHead>,
    private readonly index: SelectorIndex,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
  }

  committedHead(origin: string): FeedHead {
    return this.heads.get(origin) ?? { seq: 0, hash: ZERO_HASH };
  }

  allHeads(): ReadonlyMap<string, FeedHead> {
    return this.heads;
  }

  /**
   * Queues a write. `prepare` runs just before the commit, appends entries to the group (or
   * throws to refuse the write alone), and returns what to answer once committed.
   */
  enqueue<T>(prepare: (group: WriteGroup) => () => T): Promise<T> {
    if (this.closed) return Promise.reject(new MamoriError('UNAVAILABLE', 'the node is shutting down'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ prepare, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (!this.flushScheduled && this.queue.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const jobs = this.queue.splice(0, MAX_WRITES_PER_COMMIT);
    if (jobs.length === 0) return;
    if (this.closed) {
      for (const job of jobs) job.reject(new MamoriError('UNAVAILABLE', 'the node is shutting down'));
      return;
    }
    const group = new WriteGroup(this.heads);
    const prepared: { job: PendingWrite; finish: () => unknown }[] = [];
    for (const job of jobs) {
      const mark = group.entries.length;
      try {
        prepared.push({ job, finish: job.prepare(group) });
      } catch (error) {
        group.rollbackTo(mark);
        job.reject(error);
      }
    }
    try {
      if (group.entries.length > 0) this.store.appendMany(group.entries);
    } catch (error) {
      // The transaction rolled back and nothing in memory moved yet (heads, filter and
      // listeners change only below, after a commit): the writes are refused whole.
      const failure = storageFailure(error);
      const refusal = failure ? this.refusedForStorage(failure, error, group.entries.length) : MamoriError.internal('the entries could not be stored', error);
      if (!failure) this.log.error({ err: error }, 'entries could not be stored');
      for (const { job } of prepared) job.reject(refusal);
      return;
    } finally {
      this.schedule();
    }
    if (this.storageFullSinceMs !== undefined && group.entries.length > 0) {
      this.log.info({ fullForMs: Date.now() - this.storageFullSinceMs, refusedCommits: this.storageRefusals }, 'storage accepts writes again');
      this.storageFullSinceMs = undefined;
    }
    for (const [origin, head] of group.heads()) this.heads.set(origin, head);
    try {
      this.index.added(
        group.entries.flatMap((entry) => (entry.publication?.indicators ?? []).flatMap((indicator) => indicator.selectors.map((sel) => sel.digest))),
      );
    } catch (error) {
      // The entries are committed: they are acknowledged and relayed whatever happens to the
      // filter (a positive is confirmed in SQLite; the filter is rebuilt at the next start).
      this.log.error({ err: error }, 'the filter could not take the committed selectors');
    }
    this.log.debug({ writes: jobs.length, entries: group.entries.length }, 'group committed');
    for (const { job, finish } of prepared) {
      try {
        job.resolve(finish());
      } catch (error) {
        job.reject(error);
      }
    }
    if (group.entries.length > 0) {
      try {
        this.emit('committed', group.entries);
      } catch (error) {
        this.log.error({ err: error }, 'a listener of committed entries failed');
      }
    }
  }

  /** Whether writes are being refused for lack of room, and how many commits were since start. */
  storageStatus(): { full: boolean; refusedCommits: number } {
    return { full: this.storageFullSinceMs !== undefined, refusedCommits: this.storageRefusals };
  }

  private refusedForStorage(failure: StorageFailure, error: unknown, entries: number): MamoriError {
    this.storageRefusals++;
    if (this.storageFullSinceMs === undefined) {
      this.storageFullSinceMs = Date.now();
      const code = (error as { code?: string }).code;
      this.log.error(
        { sqlite: code, entries },
        'storage full: writes are refused (publications and replication) until there is room; checks and status go on',
      );
    }
    return MamoriError.storageFull(
      failure === 'full'
        ? 'the node\'s database reached its size limit or the disk is full; nothing of this request was stored'
        : 'the disk refused a write (full or failing); nothing of this request was stored',
      error,
    );
  }

  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new MamoriError('UNAVAILABLE', 'the node is shutting down'));
  }
}
