// The serving side of replication without the transport: a peer's Heads, one Fetch call's
// entries (paged from storage, bounded per call) and the live entries a Follow relays. The
// gRPC handlers (rpc/replication-handlers.ts) and the in-memory test link both serve
// through this, so they answer alike.
import type { FeedHead } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';
import { MEMBER_ID_PATTERN } from '../ledger/limits';
import type { PeerHead, RawEntry } from './types';

/** Entries read from SQLite per page of a Fetch. */
export const FETCH_PAGE = 16;
/** Entries sent per Fetch call at most; the peer asks again from where it got to. */
export const FETCH_LIMIT = 4096;

/** What serving needs from the node: its stored ledger and the writer's commits. */
export interface FeedSource {
  committedHeads(): ReadonlyMap<string, FeedHead>;
  /** A page of one origin's stored entries from a seq on, in seq order. */
  entriesOf(origin: string, fromSeq: number, limit: number): { seq: number; body: Buffer; signature: Buffer }[];
  /** Calls the listener with each group of entries just committed; returns the unsubscribe. */
  onCommitted(listener: (entries: readonly RawEntry[]) => void): () => void;
}

export interface FetchRequest {
  origin: string;
  fromSeq: number;
  /** 0 (or less): as many as one call sends, FETCH_LIMIT. */
  limit: number;
}

export class FeedServer {
  constructor(private readonly source: FeedSource) {}

  heads(): PeerHead[] {
    return [...this.source.committedHeads()].map(([origin, h]) => ({ origin, seq: h.seq, hash: h.hash }));
  }

  /**
   * Writes one Fetch call's entries in seq order. `write` returns true to go on at once, or a
   * promise of whether to go on (the transport waits for room); `complete` is false when the
   * write side gave up. Throws INVALID_ARGUMENT on a malformed request.
   */
  async fetch(
    request: FetchRequest,
    write: (entry: RawEntry) => boolean | Promise<boolean>,
    cancelled: () => boolean = () => false,
  ): Promise<{ sent: number; complete: boolean }> {
    const { origin, fromSeq, limit } = request;
    if (!MEMBER_ID_PATTERN.test(origin)) throw MamoriError.invalidArgument('origin', 'must be a member id');
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) throw MamoriError.invalidArgument('fromSeq', `must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
    const max = limit > 0 ? Math.min(limit, FETCH_LIMIT) : FETCH_LIMIT;
    let next = fromSeq;
    let sent = 0;
    while (sent < max && !cancelled()) {
      const page = this.source.entriesOf(origin, next, Math.min(FETCH_PAGE, max - sent));
      for (const row of page) {
        sent++;
        next = row.seq + 1;
        const goOn = write({ body: row.body, signature: row.signature });
        if (goOn !== true && !(await goOn)) return { sent, complete: false };
      }
      if (page.length < FETCH_PAGE) break;
    }
    return { sent, complete: true };
  }

  /** Every entry committed from now on, a commit's group at a time; returns the unsubscribe. */
  follow(onEntries: (entries: RawEntry[]) => void): () => void {
    return this.source.onCommitted((entries) => onEntries(entries.map((e) => ({ body: e.body, signature: e.signature }))));
  }
}
