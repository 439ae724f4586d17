// Re-applies the acceptance rule to every stored entry at start-up, so a database that was
// altered on disk is refused instead of served.
import { acceptEntry, type MemberKeys } from '../ledger/acceptance';
import { ZERO_HASH, type FeedHead } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';
import type { LedgerStore } from '../store/ledger-store';

const PAGE = 256;

export function verifyStoredLedger(store: LedgerStore, member: (origin: string) => MemberKeys | undefined): Map<string, FeedHead> {
  const heads = new Map<string, FeedHead>();
  const ctx = { member, head: (origin: string) => heads.get(origin) ?? { seq: 0, hash: ZERO_HASH } };
  let after = 0;
  for (;;) {
    const page = store.entriesAfter(after, PAGE);
    if (page.length === 0) break;
    for (const row of page) {
      let accepted;
      try {
        accepted = acceptEntry(row, ctx);
      } catch (error) {
        const reason = error instanceof MamoriError ? error.message : String(error);
        throw MamoriError.internal(`stored entry ${row.origin}#${row.seq} (row ${row.id}) fails verification: ${reason}`, error);
      }
      if (accepted.origin !== row.origin || accepted.seq !== row.seq || !accepted.hash.equals(row.hash)) {
        throw MamoriError.internal(`stored entry row ${row.id}: columns do not match its signed body`);
      }
      heads.set(accepted.origin, { seq: accepted.seq, hash: accepted.hash });
      after = row.id;
    }
  }
  return heads;
}
