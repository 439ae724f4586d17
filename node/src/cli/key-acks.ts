// The operator's view of key-epoch acknowledgements. The operator runs no node: it asks one
// member's node (through that member's client.json) which members have published a
// KeyEpochAck for each epoch. `mamori keys retire` uses it to refuse retiring an epoch while a
// member has not acknowledged the epoch that takes over (unless --force).
import { MamoriClient } from '../../../client-sdk/src/client';
import type { KeyEpochStatus__Output } from '../../../proto/gen/mamori/v1/KeyEpochStatus';
import { isoDate } from './output';

export interface NodeAckView {
  /** The member whose node answered. */
  member: string;
  consortiumKeyEpoch: number;
  epochs: KeyEpochStatus__Output[];
}

export async function fetchKeyEpochAcks(clientConfig: string): Promise<NodeAckView> {
  const client = MamoriClient.fromConfigFile(clientConfig, { mode: 'remote' });
  try {
    const s = await client.status();
    return { member: s.member, consortiumKeyEpoch: s.keyEpoch, epochs: s.keyEpochs };
  } finally {
    client.close();
  }
}

export interface MissingAcks {
  epoch: number;
  /** Current members whose ack the node does not hold; empty list with unknownEpoch when the node lacks the epoch. */
  members: string[];
  unknownEpoch: boolean;
}

/** For the epochs that take over from a retiring one: which members have not acknowledged them. */
export function missingAcks(view: NodeAckView, takingOver: readonly number[]): MissingAcks[] {
  const out: MissingAcks[] = [];
  for (const epoch of takingOver) {
    const status = view.epochs.find((e) => e.epoch === epoch);
    if (!status) out.push({ epoch, members: [], unknownEpoch: true });
    else if (!status.issuedWithConsortium && status.notAcknowledgedBy.length > 0) out.push({ epoch, members: [...status.notAcknowledgedBy], unknownEpoch: false });
  }
  return out;
}

export function describeMissing(view: NodeAckView, missing: readonly MissingAcks[]): string {
  return missing
    .map((m) =>
      m.unknownEpoch
        ? `the node of ${view.member} does not hold epoch ${m.epoch} yet (it has not taken the new consortium file)`
        : `epoch ${m.epoch} not acknowledged by ${m.members.join(', ')}`,
    )
    .join('; ');
}

export function formatAcks(view: NodeAckView): string {
  return [
    `Acknowledgements held by the node of ${view.member}:`,
    ...view.epochs.map((e) => {
      const who = e.issuedWithConsortium
        ? 'issued with the consortium (held by every member; no ack needed)'
        : `acknowledged by ${e.acknowledgedBy.join(', ') || 'nobody yet'}` + (e.notAcknowledgedBy.length ? `; NOT YET by ${e.notAcknowledgedBy.join(', ')}` : '; every member');
      return `  epoch ${e.epoch}  ${e.state.padEnd(8)}  active from ${isoDate(Number(e.activeFromMs))}  ${who}`;
    }),
  ].join('\n');
}
