// Holds back the signing of new entries of this member's own feed while the node may be
// behind its own feed (restored from a backup, or a fresh data dir with the member key):
// signing seq M+1 again while peers hold a different M+1 is equivocation, and peers would
// freeze this member. Checks, Status and replication of other origins go on meanwhile.
import { MamoriError } from '../ledger/errors';

export type OwnFeedRecoveryState =
  /** Asking peers for their copy of this member's feed; own writes are refused. */
  | 'recovering'
  /** At least one peer answered and every own entry it held is stored here. */
  | 'recovered'
  /** No peer answered within the configured time; writes accepted without the check. */
  | 'unchecked'
  /** Nothing to recover from: the node replicates with no peer. */
  | 'no-peers'
  /** A read replica: it never signs; every own write is refused for good (writeRefusal). */
  | 'replica';

export interface OwnFeedRecoveryStatus {
  state: OwnFeedRecoveryState;
  acceptingWrites: boolean;
  /** Own entries fetched from peers and stored since the node started. */
  recoveredEntries: number;
}

export class OwnWriteGate {
  private holds = 0;
  private state: OwnFeedRecoveryState = 'no-peers';
  private recovered = 0;
  private refusal: MamoriError | undefined;

  /**
   * Refuses every own write for good, whatever the holds: this node is a read replica of
   * `member` and its signer, described by `signer`, is the one place its entries are signed.
   */
  refuseAsReplica(member: string, signer: string): void {
    this.state = 'replica';
    this.refusal = MamoriError.failedPrecondition(`this node is a read replica of member "${member}": writes go to its signer (${signer})`);
  }

  /** The refusal of a read replica, or undefined on a node that signs. */
  get writeRefusal(): MamoriError | undefined {
    return this.refusal;
  }

  /** Refuses own writes until the matching release(). Holds nest. */
  hold(): void {
    this.holds++;
  }

  release(): void {
    if (this.holds > 0) this.holds--;
  }

  setState(state: OwnFeedRecoveryState): void {
    if (this.refusal) return;
    this.state = state;
  }

  countRecovered(entries: number): void {
    this.recovered += entries;
  }

  get acceptingWrites(): boolean {
    return this.holds === 0 && !this.refusal;
  }

  /** Throws the replica's refusal, or the retryable one while held; called where an own entry is signed. */
  assertAcceptingWrites(): void {
    if (this.refusal) throw this.refusal;
    if (this.holds > 0) throw new MamoriError('UNAVAILABLE', 'recovering own feed from peers');
  }

  status(): OwnFeedRecoveryStatus {
    return { state: this.state, acceptingWrites: this.acceptingWrites, recoveredEntries: this.recovered };
  }
}
