// This member's view of the consortium: the signed file in force and the hashing-key epochs
// it opened with this member's box key. A newer file replaces both at once (replace()).
import { MamoriError } from '../ledger/errors';
import type { MemberKeys } from '../ledger/acceptance';
import type { Role } from '../ledger/roles';
import { activeEpochs, type Consortium, type EpochKey, type MemberIdentity } from './consortium';

export class MemberState {
  constructor(
    readonly member: string,
    private readonly identity: MemberIdentity,
    private readonly consortiumFile: string,
    private current: Consortium,
    private epochKeys: EpochKey[],
  ) {}

  get consortium(): Consortium {
    return this.current;
  }

  /** The epoch keys this member holds, every state (active, upcoming, retired). */
  get openedEpochKeys(): readonly EpochKey[] {
    return this.epochKeys;
  }

  /** A new signed consortium file (members added or removed) takes effect at once. */
  replace(next: Consortium): void {
    if (!next.member(this.member)) throw MamoriError.failedPrecondition(`the new consortium file no longer lists "${this.member}"`);
    // New hashing-key epochs (a rotation) come with the file: open them before switching.
    const epochKeys = next.openEpochKeys(this.identity, this.consortiumFile);
    this.current = next;
    this.epochKeys = epochKeys;
  }

  get roles(): Role[] {
    return (this.current.member(this.member)?.roles ?? []) as Role[];
  }

  /** This member's BIN ranges in the file in force. */
  binRanges(): readonly string[] {
    return this.current.member(this.member)?.binRanges ?? [];
  }

  memberKeys(origin: string): MemberKeys | undefined {
    return this.current.memberKeys(origin);
  }

  /** Keys that verify stored entries: current members, and former ones for their earlier entries. */
  storedEntryKeys(): Map<string, MemberKeys> {
    const keys = new Map<string, MemberKeys>();
    for (const m of this.current.document.members) {
      const k = this.current.memberKeys(m.id) ?? this.current.formerMemberKeys(m.id);
      if (k) keys.set(m.id, k);
    }
    return keys;
  }

  /** Keys a member-local client needs to hash card numbers itself: the active epochs, newest first. */
  hashingKeys(nowMs = Date.now()): EpochKey[] {
    return activeEpochs(this.epochKeys, nowMs);
  }

  /** Epochs not active yet, soonest first: a client takes them up at their activation. */
  upcomingHashingKeys(nowMs = Date.now()): EpochKey[] {
    return this.epochKeys.filter((k) => k.activeFromMs > nowMs).sort((a, b) => a.activeFromMs - b.activeFromMs);
  }

  requireActiveEpoch(epoch: number): number {
    const active = activeEpochs(this.epochKeys);
    if (active.length === 0) throw MamoriError.failedPrecondition('no hashing-key epoch is active; ask the consortium operator for a new epoch');
    if (!active.some((k) => k.epoch === epoch)) {
      throw MamoriError.invalidArgument('keyEpoch', `epoch ${epoch} is not active; active epochs: ${active.map((k) => k.epoch).join(', ')}`);
    }
    return epoch;
  }

  newestEpoch(): number {
    const [newest] = activeEpochs(this.epochKeys);
    if (!newest) throw MamoriError.failedPrecondition('no hashing-key epoch is active; ask the consortium operator for a new epoch');
    return newest.epoch;
  }
}
