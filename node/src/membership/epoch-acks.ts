// Key-epoch acknowledgement (docs/design.md#key-epoch-acks): once a node holds the key of an epoch issued by a
// rotation, it publishes one KeyEpochAck in its own feed, so every node — and the operator,
// through any member's status — can see which members hold the new key before the old one is
// retired. The first epoch of a consortium is issued with it: a member holds it by joining,
// and it needs no ack.
import type { Consortium, EpochKey } from './consortium';

export type EpochState = 'active' | 'upcoming' | 'retired';

export function epochState(e: { activeFromMs: number; retiresAtMs?: number }, nowMs = Date.now()): EpochState {
  if (e.retiresAtMs !== undefined && e.retiresAtMs <= nowMs) return 'retired';
  return e.activeFromMs > nowMs ? 'upcoming' : 'active';
}

/** The epoch a consortium file started with (the lowest number it lists). */
export function foundingEpoch(consortium: Consortium): number {
  return Math.min(...consortium.document.keyEpochs.map((e) => e.epoch));
}

/**
 * Epochs this member should acknowledge now: opened with its box key, issued by a rotation,
 * not retired, and not acknowledged yet (`acknowledged` holds its committed acks).
 */
export function epochsToAcknowledge(consortium: Consortium, opened: readonly EpochKey[], acknowledged: ReadonlySet<number>, nowMs = Date.now()): number[] {
  const founding = foundingEpoch(consortium);
  return opened
    .filter((k) => k.epoch !== founding && !acknowledged.has(k.epoch) && epochState(k, nowMs) !== 'retired')
    .map((k) => k.epoch)
    .sort((a, b) => a - b);
}

export interface KeyEpochStatus {
  epoch: number;
  state: EpochState;
  activeFromMs: number;
  retiresAtMs: number;
  acknowledgedBy: string[];
  notAcknowledgedBy: string[];
  issuedWithConsortium: boolean;
}

/** Every epoch of the file in force, with which current members' acks this node holds. */
export function keyEpochStatuses(consortium: Consortium, acks: readonly { member: string; epoch: number }[], nowMs = Date.now()): KeyEpochStatus[] {
  const founding = foundingEpoch(consortium);
  const current = consortium.currentMembers().map((m) => m.id).sort();
  return [...consortium.document.keyEpochs]
    .sort((a, b) => a.epoch - b.epoch)
    .map((e) => {
      const issuedWithConsortium = e.epoch === founding;
      const acked = new Set(acks.filter((a) => a.epoch === e.epoch).map((a) => a.member));
      return {
        epoch: e.epoch,
        state: epochState(e, nowMs),
        activeFromMs: e.activeFromMs,
        retiresAtMs: e.retiresAtMs ?? 0,
        acknowledgedBy: current.filter((m) => acked.has(m)),
        notAcknowledgedBy: issuedWithConsortium ? [] : current.filter((m) => !acked.has(m)),
        issuedWithConsortium,
      };
    });
}
