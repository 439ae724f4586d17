// Re-verifies every stored entry at start-up, so a database altered on disk is refused
// instead of served: origin is a member whose role allows the operation, seq and prev chain
// from the previous entry, the signature verifies, the stored columns match the signed body.
// The content itself was validated before it was stored, and the signature covers it.
import { entrySigningBytes } from '../../../proto/ts/signed-bytes';
import { entryHash, verifyDetached } from '../crypto/signing';
import type { MemberKeys } from '../ledger/acceptance';
import { readEntryHeader, ZERO_HASH, type FeedHead } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';
import { LIMITS } from '../ledger/limits';
import { roleAllowsOperation } from '../ledger/roles';
import type { LedgerStore, StoredEntryPage } from '../store/ledger-store';

const PAGE = 256;

export function verifyStoredLedger(store: LedgerStore, member: (origin: string) => MemberKeys | undefined): Map<string, FeedHead> {
  const heads = new Map<string, FeedHead>();
  let after = 0;
  for (;;) {
    const page = store.entriesAfter(after, PAGE);
    if (page.length === 0) break;
    for (const row of page) {
      try {
        const head = verifyStoredEntry(row, heads.get(row.origin) ?? { seq: 0, hash: ZERO_HASH }, member);
        heads.set(row.origin, head);
      } catch (error) {
        const reason = error instanceof MamoriError ? error.message : String(error);
        throw MamoriError.internal(`stored entry ${row.origin}#${row.seq} (row ${row.id}) fails verification: ${reason}`, error);
      }
      after = row.id;
    }
  }
  return heads;
}

function verifyStoredEntry(row: StoredEntryPage, head: FeedHead, member: (origin: string) => MemberKeys | undefined): FeedHead {
  if (row.body.length === 0 || row.body.length > LIMITS.maxEntryBodyBytes) throw MamoriError.entryTooLarge(row.body.length, LIMITS.maxEntryBodyBytes);
  const header = readEntryHeader(row.body);
  if (header.origin !== row.origin || header.seq !== row.seq) throw MamoriError.malformedEntry('stored columns do not match the signed body');
  const keys = member(header.origin);
  if (!keys) throw MamoriError.notAMember(header.origin);
  if (header.seq <= head.seq) throw MamoriError.seqReplay(header.origin, header.seq, head.seq);
  if (header.seq !== head.seq + 1) throw MamoriError.seqGap(header.origin, header.seq, head.seq);
  if (!head.hash.equals(header.prev)) throw MamoriError.prevMismatch(header.origin, header.seq);
  if (!verifyDetached(row.signature, entrySigningBytes(row.body), keys.signingPublicKey)) throw MamoriError.badSignature(header.origin, header.seq);
  if (!header.operation) throw MamoriError.malformedEntry('carries no operation');
  if (!roleAllowsOperation(keys.roles, header.operation)) throw MamoriError.roleForbids(header.origin, header.operation);
  const hash = entryHash(row.body);
  if (!hash.equals(row.hash)) throw MamoriError.malformedEntry('stored hash does not match the body');
  return { seq: header.seq, hash };
}
