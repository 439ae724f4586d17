// Publishes this member's KeyEpochAcks (epoch-acks.ts decides which epochs need one).
import type { Logger } from 'pino';
import type { OwnFeed } from '../exchange/own-feed';
import type { KeyEpochAckStore } from '../store/key-epoch-ack-store';
import { epochsToAcknowledge } from './epoch-acks';
import type { MemberState } from './member-state';

export class KeyEpochAcknowledger {
  constructor(
    private readonly feed: OwnFeed,
    private readonly membership: MemberState,
    private readonly acks: KeyEpochAckStore,
    private readonly audit: { record(actor: string, action: string, details?: object): void },
    private readonly log: Logger,
  ) {}

  /**
   * Publishes one KeyEpochAck per epoch this member holds and has not acknowledged yet.
   * Decided inside the writer against committed acks and those already in the group, so
   * restarts and concurrent calls never ack an epoch twice.
   */
  async acknowledge(): Promise<{ epoch: number; seq: number }[]> {
    const member = this.feed.member;
    const acked = await this.feed.write((group) => {
      const done = this.acks.epochsAcknowledgedBy(member);
      for (const e of group.entries) if (e.origin === member && e.keyEpochAck) done.add(e.keyEpochAck.epoch);
      const entries = epochsToAcknowledge(this.membership.consortium, this.membership.openedEpochKeys, done, group.now).map((epoch) =>
        this.feed.sign(group, epoch, { keyEpochAck: { epoch } }, { operation: 'keyEpochAck', keyEpochAck: { epoch } }),
      );
      return () => entries.map((e) => ({ epoch: e.keyEpoch, seq: e.seq }));
    });
    for (const a of acked) {
      this.log.info({ epoch: a.epoch, seq: a.seq }, 'key epoch acknowledged');
      this.audit.record('node', 'keys.epoch-ack', { epoch: a.epoch, seq: a.seq });
    }
    return acked;
  }
}
