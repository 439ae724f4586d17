// Applies the acceptance rule of docs/design.md#acceptance to entries received from a peer, in order,
// inside the node's single writer: duplicates are idempotent, a gap is reported (to fetch)
// and never committed out of order, two signed entries at one seq are equivocation.
import { entryHash } from '../../../proto/ts/trust/domains';
import { verifyEntry } from '../../../proto/ts/trust/verify';
import { acceptEntry, type MemberKeys } from '../ledger/acceptance';
import { readEntryHeader } from '../ledger/entry';
import { type ErrorCode, MamoriError } from '../ledger/errors';
import type { LedgerPort, RawEntry, WriteGroupPort } from './types';

export interface IngestReport {
  accepted: number;
  duplicates: number;
  rejected: Partial<Record<ErrorCode, number>>;
  /** Origins whose next entry is missing here: fetch them from this seq. */
  gaps: Map<string, number>;
  /** For each origin in `gaps`: the highest seq received (the sender holds the feed that far). */
  gapSeqs: Map<string, number>;
  equivocations: string[];
  /** Origins whose received entry did not chain onto our head (PREV_MISMATCH). */
  forks: Set<string>;
  /** Seqs where a peer holds a validly signed entry of this node's own feed that differs from ours. */
  ownDivergences: number[];
  /** Entries of this node's own feed accepted from the peer (a restored node catching up). */
  ownAccepted: number;
}

export function emptyReport(): IngestReport {
  return { accepted: 0, duplicates: 0, rejected: {}, gaps: new Map(), gapSeqs: new Map(), equivocations: [], forks: new Set(), ownDivergences: [], ownAccepted: 0 };
}

export async function ingestEntries(
  ledger: LedgerPort,
  member: (origin: string) => MemberKeys | undefined,
  entries: readonly RawEntry[],
  fromPeer: string,
): Promise<IngestReport> {
  return ledger.enqueue((group) => {
    const report = emptyReport();
    for (const entry of entries) classify(ledger, member, group, entry, fromPeer, report);
    return () => report;
  });
}

function reject(report: IngestReport, code: ErrorCode): void {
  report.rejected[code] = (report.rejected[code] ?? 0) + 1;
}

function classify(
  ledger: LedgerPort,
  member: (origin: string) => MemberKeys | undefined,
  group: WriteGroupPort,
  entry: RawEntry,
  fromPeer: string,
  report: IngestReport,
): void {
  if (!entry || !Buffer.isBuffer(entry.body) || !Buffer.isBuffer(entry.signature) || entry.body.length === 0) {
    return reject(report, 'MALFORMED_ENTRY');
  }
  let header;
  try {
    header = readEntryHeader(entry.body);
  } catch {
    return reject(report, 'MALFORMED_ENTRY');
  }
  const { origin, seq } = header;
  if (report.gaps.has(origin)) {
    // later entries of a feed with a gap wait for the fetch
    if (Number.isSafeInteger(seq) && seq > (report.gapSeqs.get(origin) ?? 0)) report.gapSeqs.set(origin, seq);
    return;
  }
  if (ledger.isFrozen(origin)) return reject(report, 'ORIGIN_FROZEN');
  const head = group.head(origin);
  if (Number.isSafeInteger(seq) && seq >= 1 && seq <= head.seq) {
    const hash = entryHash(entry.body);
    const stored = ledger.storedEntry(origin, seq) ?? group.entries.find((e) => e.origin === origin && e.seq === seq);
    if (stored && stored.hash.equals(hash)) {
      report.duplicates++;
      return;
    }
    const keys = member(origin);
    if (!stored || !keys || !verifyEntry(entry, keys.signingPublicKey)) {
      return reject(report, keys ? 'BAD_SIGNATURE' : 'NOT_A_MEMBER');
    }
    if (origin === ledger.ownOrigin) {
      // This node signed the seq again after losing its copy (a restored backup): peers will
      // freeze this member, but freezing its own origin here would only stop the node from
      // seeing its feed. Reported for the operator; no evidence row, no freeze.
      report.ownDivergences.push(seq);
      return;
    }
    // A second entry at this seq, validly signed by the origin: keep it as evidence, freeze the origin.
    ledger.recordEquivocation({ origin, seq, storedHash: stored.hash, otherHash: hash, otherBody: entry.body, otherSignature: entry.signature, reportedBy: fromPeer });
    report.equivocations.push(origin);
    return reject(report, 'EQUIVOCATION');
  }
  if (Number.isSafeInteger(seq) && seq > head.seq + 1 && member(origin)) {
    report.gaps.set(origin, head.seq + 1);
    report.gapSeqs.set(origin, seq);
    return;
  }
  try {
    group.append(acceptEntry(entry, { member, head: (o) => group.head(o) }));
    report.accepted++;
    if (origin === ledger.ownOrigin) report.ownAccepted++;
  } catch (error) {
    const code = error instanceof MamoriError ? error.code : 'MALFORMED_ENTRY';
    if (code === 'PREV_MISMATCH') report.forks.add(origin);
    reject(report, code);
  }
}
