// Start-up verification of the stored ledger. Another member's damaged entry is marked and
// left to the scrub, which repairs it from a peer; damage in this member's own feed, or rows of
// an origin that was never a member, still refuse the start (an operator looks).
import type { Logger } from 'pino';
import type { MemberKeys } from '../ledger/acceptance';
import type { FeedHead } from '../ledger/entry';
import type { EntryPages } from '../store/entry-pages';
import type { DamagedEntryStore } from './damaged-entries';
import { verifyStoredLedger } from './verify-ledger';

/** Verifies every stored entry, marks tolerable damage, and returns each origin's head. */
export function verifyAtStart(
  store: EntryPages,
  ownOrigin: string,
  keysOf: (origin: string) => MemberKeys | undefined,
  damage: DamagedEntryStore,
  log: Logger,
): Map<string, FeedHead> {
  return verifyStoredLedger(store, keysOf, (damaged) => {
    if (damaged.origin === ownOrigin || !keysOf(damaged.origin)) return false;
    damage.mark(damaged.origin, damaged.seq, damaged.reason);
    log.error({ origin: damaged.origin, seq: damaged.seq, reason: damaged.reason }, 'stored entry of another origin is damaged; starting, the scrub repairs it from a peer');
    return true;
  });
}
