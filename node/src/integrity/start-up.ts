// Start-up verification of the stored ledger. Another member's damaged entry is marked and
// left to the scrub, which repairs it from a peer; damage in this member's own feed, or rows of
// an origin that was never a member, still refuse the start (an operator looks).
//
// With a usable verification checkpoint (verification-checkpoint.ts) only the entries after it
// are verified, chained from its heads; the scrub pass that begins at start re-verifies the
// older ones. Without one (none yet, a bad MAC, heads that no longer match, or the setting
// "full"), every entry is verified, as the checkpoint's reason is logged at warn.
import type { Logger } from 'pino';
import type { MemberKeys } from '../ledger/acceptance';
import type { FeedHead } from '../ledger/entry';
import type { EntryPages } from '../store/entry-pages';
import type { DamagedEntryStore } from './damaged-entries';
import type { VerificationCheckpoints } from './verification-checkpoint';
import { StoredLedgerWalk, walkToEnd } from './verify-ledger';

export type StartUpVerificationMode = 'since-checkpoint' | 'full';

/** What the start verified: the heads the writer starts from, and how much was walked. */
export interface StartUpVerification {
  heads: Map<string, FeedHead>;
  /** Entries verified at start. */
  entriesVerified: number;
  /** Row id of the checkpoint the verification began after (0: from the first entry). */
  checkpointRowId: number;
  /** Why every entry was verified (absent when a checkpoint was used). */
  fullReason?: string;
}

/** The start-up verification as Status reports it. */
export interface StartUpStats {
  entriesVerified: number;
  checkpointRowId: number;
  fullReason?: string;
  entriesVerifiedMs: number;
}

export interface StartUpVerificationOptions {
  ownOrigin: string;
  keysOf: (origin: string) => MemberKeys | undefined;
  damage: DamagedEntryStore;
  checkpoints: VerificationCheckpoints;
  mode: StartUpVerificationMode;
  /** Without the scrub nothing would re-verify the entries below a checkpoint: verify all. */
  scrubEnabled: boolean;
  log: Logger;
}

/** Verifies the stored entries (all, or those after a checkpoint), marks tolerable damage, records a checkpoint. */
export function verifyAtStart(store: EntryPages, options: StartUpVerificationOptions): StartUpVerification {
  const { ownOrigin, keysOf, damage, checkpoints, log } = options;
  let from: { after: number; heads: Map<string, FeedHead> } | undefined;
  let fullReason: string | undefined;
  if (options.mode === 'full') fullReason = 'scrub.startUpVerification is "full"';
  else if (!options.scrubEnabled) fullReason = 'the scrub is disabled (scrub.enabled: false), so nothing would re-verify the entries below a checkpoint';
  else if (damage.count() > 0) {
    // A marked entry may lie below the checkpoint, which the walk from it would not see again.
    fullReason = `${damage.count()} stored entries are marked damaged`;
    log.warn({ reason: fullReason }, 'verification checkpoint not used; verifying every stored entry');
  }
  else {
    const found = checkpoints.load(keysOf);
    if (found.usable) from = { after: found.checkpoint.coveredRowId, heads: found.checkpoint.heads };
    else {
      fullReason = found.reason;
      log.warn({ reason: found.reason }, 'verification checkpoint not used; verifying every stored entry');
    }
  }
  const result = walkToEnd(new StoredLedgerWalk(store, keysOf, from), (damaged) => {
    if (damaged.origin === ownOrigin || !keysOf(damaged.origin)) return false;
    damage.mark(damaged.origin, damaged.seq, damaged.reason);
    log.error({ origin: damaged.origin, seq: damaged.seq, reason: damaged.reason }, 'stored entry of another origin is damaged; starting, the scrub repairs it from a peer');
    return true;
  });
  // A walk that found damage leaves heads taken from suspect hash columns: no checkpoint there.
  if (result.damaged === 0 && damage.count() === 0) checkpoints.record(result.position, result.heads);
  return { heads: result.heads, entriesVerified: result.walked, checkpointRowId: from?.after ?? 0, fullReason };
}
