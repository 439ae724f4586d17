// Which member acknowledged which hashing-key epoch: rows written with the KeyEpochAck entries
// of every feed (ledger-store.ts), read here for status and for the node's own idempotence.
import type Database from 'better-sqlite3';

export interface StoredKeyEpochAck {
  member: string;
  epoch: number;
  ackedAtMs: number;
}

export class KeyEpochAckStore {
  private readonly statements;

  constructor(db: Database.Database) {
    this.statements = {
      all: db.prepare('SELECT member, epoch, acked_at_ms AS ackedAtMs FROM key_epoch_acks ORDER BY epoch, member'),
      of: db.prepare('SELECT epoch FROM key_epoch_acks WHERE member = ? ORDER BY epoch').pluck(true),
    };
  }

  all(): StoredKeyEpochAck[] {
    return this.statements.all.all() as StoredKeyEpochAck[];
  }

  /** The epochs a member has acknowledged (committed entries of its feed). */
  epochsAcknowledgedBy(member: string): Set<number> {
    return new Set(this.statements.of.all(member) as number[]);
  }
}
