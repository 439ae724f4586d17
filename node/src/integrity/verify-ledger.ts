// Re-verifies stored entries, so a database altered on disk is refused or repaired instead
// of served: origin is a member whose role allows the operation, seq and prev chain from the
// previous entry, the signature verifies, the stored columns match the signed body. The
// content itself was validated before it was stored, and the signature covers it.
// Used whole at start-up (verifyStoredLedger; from a verification checkpoint on, walkToEnd) and
// a slice at a time by the scrub (scrub.ts).
import { entryHash } from '../../../proto/ts/trust/domains';
import { verifyEntry } from '../../../proto/ts/trust/verify';
import type { MemberKeys } from '../ledger/acceptance';
import { readEntryHeader, ZERO_HASH, type FeedHead } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';
import { LIMITS } from '../ledger/limits';
import { roleAllowsOperation } from '../ledger/roles';
import type { EntryPages } from '../store/entry-pages';
import type { StoredEntryPage } from '../store/ledger-store';

const PAGE = 256;

export type MemberLookup = (origin: string) => MemberKeys | undefined;

/** A stored entry that failed verification: where it is and why, never its bytes. */
export interface DamagedEntry {
  id: number;
  origin: string;
  seq: number;
  reason: string;
  error?: unknown;
}

/**
 * Walks the stored entries in id order (within an origin, id order is seq order), keeping
 * each origin's head between calls so the walk can stop and resume anywhere. A damaged entry
 * is reported and the walk goes on from its stored hash column, so one flipped byte is one
 * damaged entry rather than a broken chain for every later entry of its feed.
 */
export class StoredLedgerWalk {
  readonly heads = new Map<string, FeedHead>();
  /**
   * Origins whose head is a damaged entry: its true hash is unknown here (the body or the
   * hash column may be the damaged part), so the next entry's signed prev is taken as it.
   */
  private readonly uncertain = new Set<string>();
  private after = 0;

  /**
   * `from`: a position already verified (a verification checkpoint) and each origin's head
   * there; the walk goes on after it, chaining each origin's next entry to that head.
   */
  constructor(
    private readonly store: EntryPages,
    private readonly member: MemberLookup,
    from?: { after: number; heads: ReadonlyMap<string, FeedHead> },
  ) {
    if (from) {
      this.after = from.after;
      for (const [origin, head] of from.heads) this.heads.set(origin, head);
    }
  }

  /** Row id of the last entry walked (0 before the first). */
  get position(): number {
    return this.after;
  }

  /**
   * Verifies up to `limit` entries after the position. Returns how many were walked (0: the
   * end of the ledger) and the damaged ones among them.
   */
  next(limit: number): { walked: number; damaged: DamagedEntry[] } {
    const page = this.store.entriesAfter(this.after, limit);
    const damaged: DamagedEntry[] = [];
    let walked = 0;
    for (const row of page) {
      const head = this.heads.get(row.origin) ?? { seq: 0, hash: ZERO_HASH };
      try {
        this.heads.set(row.origin, verifyStoredEntry(row, this.uncertain.has(row.origin) ? { seq: head.seq, hash: prevOf(row.body) } : head, this.member));
        this.uncertain.delete(row.origin);
      } catch (error) {
        const reason = error instanceof MamoriError ? error.message : String(error);
        damaged.push({ id: row.id, origin: row.origin, seq: row.seq, reason, error });
        this.heads.set(row.origin, { seq: row.seq, hash: row.hash });
        this.uncertain.add(row.origin);
      }
      this.after = row.id;
      walked++;
    }
    return { walked, damaged };
  }
}

function prevOf(body: Buffer): Buffer {
  try {
    return readEntryHeader(body).prev;
  } catch {
    return ZERO_HASH; // a body that does not parse fails its own verification anyway
  }
}

/**
 * Verifies every stored entry and returns each origin's head. A damaged entry stops the
 * node unless `tolerate` accepts it (it is then left for the scrub to repair from a peer).
 */
export function verifyStoredLedger(store: EntryPages, member: MemberLookup, tolerate: (damaged: DamagedEntry) => boolean = () => false): Map<string, FeedHead> {
  return walkToEnd(new StoredLedgerWalk(store, member), tolerate).heads;
}

/** What a walk to the end of the ledger verified: the heads there, the last row, the counts. */
export interface LedgerWalkResult {
  heads: Map<string, FeedHead>;
  /** Row id of the last entry walked (where the walk began when there was none after it). */
  position: number;
  walked: number;
  damaged: number;
}

/** Runs a walk to the end of the ledger; a damaged entry `tolerate` refuses throws, naming it. */
export function walkToEnd(walk: StoredLedgerWalk, tolerate: (damaged: DamagedEntry) => boolean): LedgerWalkResult {
  let total = 0;
  let damagedTotal = 0;
  for (;;) {
    const { walked, damaged } = walk.next(PAGE);
    for (const d of damaged) {
      if (!tolerate(d)) throw MamoriError.internal(`stored entry ${d.origin}#${d.seq} (row ${d.id}) fails verification: ${d.reason}`, d.error);
    }
    total += walked;
    damagedTotal += damaged.length;
    if (walked === 0) return { heads: walk.heads, position: walk.position, walked: total, damaged: damagedTotal };
  }
}

/**
 * True when a copy of origin/seq (the node's own or a peer's) is the entry whose hash the
 * chain expects, validly signed by its origin: the same checks as a stored entry, with the
 * expected hash in place of the hash column. The copy's prev is taken as it is: its hash
 * equal to the expected one already binds it.
 */
export function isOriginalCopy(copy: { body: Buffer; signature: Buffer }, origin: string, seq: number, expectedHash: Buffer, member: MemberLookup): boolean {
  if (!Buffer.isBuffer(copy.body) || !Buffer.isBuffer(copy.signature)) return false;
  try {
    verifyStoredEntry({ id: 0, origin, seq, hash: expectedHash, body: copy.body, signature: copy.signature }, { seq: seq - 1, hash: prevOf(copy.body) }, member);
    return true;
  } catch {
    return false;
  }
}

/** Checks one stored entry against its feed's head before it; returns the new head. */
export function verifyStoredEntry(row: StoredEntryPage, head: FeedHead, member: MemberLookup): FeedHead {
  if (row.body.length === 0 || row.body.length > LIMITS.maxEntryBodyBytes) throw MamoriError.entryTooLarge(row.body.length, LIMITS.maxEntryBodyBytes);
  const header = readEntryHeader(row.body);
  if (header.origin !== row.origin || header.seq !== row.seq) throw MamoriError.malformedEntry('stored columns do not match the signed body');
  const keys = member(header.origin);
  if (!keys) throw MamoriError.notAMember(header.origin);
  if (header.seq <= head.seq) throw MamoriError.seqReplay(header.origin, header.seq, head.seq);
  if (header.seq !== head.seq + 1) throw MamoriError.seqGap(header.origin, header.seq, head.seq);
  if (!head.hash.equals(header.prev)) throw MamoriError.prevMismatch(header.origin, header.seq);
  if (!verifyEntry(row, keys.signingPublicKey)) throw MamoriError.badSignature(header.origin, header.seq);
  if (!header.operation) throw MamoriError.malformedEntry('carries no operation');
  if (!roleAllowsOperation(keys.roles, header.operation)) throw MamoriError.roleForbids(header.origin, header.operation);
  const hash = entryHash(row.body);
  if (!hash.equals(row.hash)) throw MamoriError.malformedEntry('stored hash does not match the body');
  return { seq: header.seq, hash };
}
