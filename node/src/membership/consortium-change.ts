// What a new consortium file changes, as the audit log records it: versions, member ids and
// epoch numbers only (never a key, a sealed key or an endpoint).
import type { Consortium } from './consortium';

export interface ConsortiumChange {
  version: number;
  previousVersion: number;
  members: string[];
  membersAdded: string[];
  membersRemoved: string[];
  /** Epochs the new file lists that the previous one did not. */
  epochsOpened: number[];
  /** Epochs whose retirement date the new file sets or moves. */
  epochsRetiring: { epoch: number; retiresAtMs: number }[];
}

export function describeConsortiumChange(previous: Consortium, next: Consortium): ConsortiumChange {
  const before = new Set(previous.currentMembers().map((m) => m.id));
  const after = new Set(next.currentMembers().map((m) => m.id));
  const previousEpochs = new Map(previous.document.keyEpochs.map((e) => [e.epoch, e]));
  return {
    version: next.document.version,
    previousVersion: previous.document.version,
    members: [...after].sort(),
    membersAdded: [...after].filter((id) => !before.has(id)).sort(),
    membersRemoved: [...before].filter((id) => !after.has(id)).sort(),
    epochsOpened: next.document.keyEpochs.filter((e) => !previousEpochs.has(e.epoch)).map((e) => e.epoch).sort((a, b) => a - b),
    epochsRetiring: next.document.keyEpochs
      .filter((e) => e.retiresAtMs !== undefined && e.retiresAtMs !== previousEpochs.get(e.epoch)?.retiresAtMs)
      .map((e) => ({ epoch: e.epoch, retiresAtMs: e.retiresAtMs as number }))
      .sort((a, b) => a.epoch - b.epoch),
  };
}

/** Why a consortium file was refused, for the audit log: the problem, without file contents. */
export function refusalReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}
