// This member's feed: the one place its entries are signed. Each write goes through the
// node's writer (group commit) and is refused while the node closes or while own writes are
// held (own-feed recovery: the node may be behind its own feed). A read replica has no signing
// key: its gate refuses every own entry (and rpc/ refuses write calls before they reach here).
import type { AcceptedEntry } from '../ledger/acceptance';
import { signNextEntry, type FeedHead } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';
import type { OwnWriteGate } from '../replication/own-write-gate';
import type { LedgerWriter, WriteGroup } from '../store/ledger-writer';

/** What an own entry records besides its signed bytes (as stored and as detectors read it). */
export type OwnEntryParts = Pick<
  AcceptedEntry,
  'operation' | 'publication' | 'retraction' | 'cardTestingReport' | 'sightings' | 'keyEpochAck' | 'fraudReport' | 'commonPointFlags' | 'oprfEvaluationCounts'
>;

export class OwnFeed {
  private closed = false;

  constructor(
    readonly member: string,
    private readonly signingSecretKey: Uint8Array | undefined,
    private readonly writer: LedgerWriter,
    readonly ownWrites: OwnWriteGate,
  ) {}

  /** The committed head of this member's feed. */
  head(): FeedHead {
    return this.writer.committedHead(this.member);
  }

  /** Every origin's committed head. */
  allHeads(): ReadonlyMap<string, FeedHead> {
    return this.writer.allHeads();
  }

  /** Queues a write: `prepare` signs entries onto the group; resolves once they commit. */
  write<T>(prepare: (group: WriteGroup) => () => T): Promise<T> {
    this.assertOpen();
    return this.writer.enqueue(prepare);
  }

  /** Signs the next entry of this member's feed onto the group; stored when the group commits. */
  sign(group: WriteGroup, keyEpoch: number, operation: Parameters<typeof signNextEntry>[3], parts: OwnEntryParts): AcceptedEntry {
    this.ownWrites.assertAcceptingWrites();
    if (!this.signingSecretKey) throw MamoriError.failedPrecondition(`this node holds no signing key of member "${this.member}"`);
    const createdAtMs = Date.now();
    const head = group.head(this.member);
    const signed = signNextEntry(this.member, head, keyEpoch, operation, this.signingSecretKey, createdAtMs);
    const accepted: AcceptedEntry = { origin: this.member, seq: head.seq + 1, createdAtMs, keyEpoch, ...signed, ...parts };
    group.append(accepted);
    return accepted;
  }

  assertOpen(): void {
    if (this.closed) throw new MamoriError('UNAVAILABLE', 'the node is shutting down');
  }

  close(): void {
    this.closed = true;
  }
}
