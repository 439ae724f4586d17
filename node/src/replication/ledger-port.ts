// The stored ledger as replication and peers see it: the writer for entries received, the
// committed heads, stored entries for a peer's Fetch, and the origins frozen for equivocation
// (evidence in SQLite, the set in memory for the hot path).
import type { LedgerStore } from '../store/ledger-store';
import type { LedgerWriter } from '../store/ledger-writer';
import type { LedgerPort } from './types';

export interface FrozenOrigin {
  origin: string;
  sinceMs: number;
  reason: string;
}

export class ReplicatedLedger {
  private readonly frozen: Set<string>;

  constructor(
    private readonly store: LedgerStore,
    private readonly writer: LedgerWriter,
    readonly ownOrigin: string,
  ) {
    this.frozen = new Set(store.frozenOrigins().map((f) => f.origin));
  }

  /** The writer and stored ledger, as the replicator uses them. */
  port(): LedgerPort {
    return {
      enqueue: (prepare) => this.writer.enqueue(prepare),
      committedHeads: () => this.writer.allHeads(),
      storedEntry: (origin, seq) => this.store.entryAt(origin, seq),
      isFrozen: (origin) => this.frozen.has(origin),
      ownOrigin: this.ownOrigin,
      recordEquivocation: (evidence) => {
        this.store.recordEquivocation(evidence);
        this.frozen.add(evidence.origin);
      },
    };
  }

  /** A page of one origin's stored entries, for a peer's Fetch. */
  entriesOf(origin: string, fromSeq: number, limit: number): { seq: number; body: Buffer; signature: Buffer }[] {
    return this.store.entriesOf(origin, fromSeq, limit);
  }

  frozenOrigins(): FrozenOrigin[] {
    return this.store.frozenOrigins();
  }

  /** An operator's decision: accept an origin's entries again (the evidence stays). */
  unfreeze(origin: string): boolean {
    this.frozen.delete(origin);
    return this.store.unfreeze(origin);
  }
}
