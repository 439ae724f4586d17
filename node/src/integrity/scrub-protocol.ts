// Messages between the scrub (scrub.ts) and its worker thread (scrub-worker.ts).
import type { MemberKeys } from '../ledger/acceptance';
import type { FeedHead } from '../ledger/entry';

export interface ScrubWorkerData {
  file: string;
}

export type ScrubRequest =
  /** Starts a pass from the first entry, with the member keys in force now. */
  | { id: number; type: 'begin'; members: [string, MemberKeys][] }
  | { id: number; type: 'next'; limit: number }
  | { id: number; type: 'quickCheck'; maxErrors: number }
  /** The full derived-state check (verify-derived.ts) under the node-local key, in one read transaction. */
  | { id: number; type: 'derived'; key: Uint8Array };

export interface DamagedEntryReport {
  id: number;
  origin: string;
  seq: number;
  reason: string;
}

export type ScrubReply =
  | { id: number; type: 'begun' }
  /** `heads`: at the end of the walk (walked 0), each origin's head at `position`. */
  | { id: number; type: 'slice'; walked: number; position: number; damaged: DamagedEntryReport[]; heads?: [string, FeedHead][] }
  | { id: number; type: 'quickCheck'; problems: string[] }
  | { id: number; type: 'derived'; entries: number; selectorRows: number; damaged: { entryId: number; reason: string }[]; orphans: number[]; ms: number }
  | { id: number; type: 'failed'; message: string };
