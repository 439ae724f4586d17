// Issuer notices: how a compromised-card listing reaches the issuers of its cards without a BIN
// in the signed entry (docs/design.md#bin-routing: a BIN next to a PAN selector shrinks the brute-force space
// of that card ~10^6-fold for every member). The publishing node matches each card's BIN on the
// member-local hop, then seals to each issuer the indexes of its cards in the entry; only that
// issuer can open them. Every other member sees how many issuers were notified, nothing more.
import type { IssuerNotice__Output } from '../../../proto/gen/mamori/v1/IssuerNotice';
import { ROUTING_BIN_DIGITS } from '../../../proto/ts/routing-bin';
import { sealTo } from '../crypto/sealed-box';
import { MamoriError } from './errors';
import { memberIdProblem } from './limits';

/** crypto_box_seal overhead: an ephemeral X25519 public key and a MAC. */
export const SEAL_OVERHEAD_BYTES = 48;
const INDEX_BYTES = 4;
/** At most this many issuers are notified by one entry. */
export const MAX_ISSUER_NOTICES_PER_ENTRY = 64;

export interface NoticeRecipient {
  id: string;
  binRanges: readonly string[];
  boxPublicKey: Uint8Array;
}

export interface IssuerNotice {
  issuer: string;
  sealed: Buffer;
}

/** The routing prefix a BIN range or a card's BIN is matched on (card-testing uses the same). */
const routingPrefix = (bin: string): string => bin.slice(0, ROUTING_BIN_DIGITS);

/**
 * One notice per recipient owning at least one card's BIN, with the indexes of those cards,
 * ascending. Cards without a BIN (or shorter than the routing prefix) notify no one.
 */
export function buildIssuerNotices(indicators: readonly { bin?: string | null }[], recipients: readonly NoticeRecipient[]): IssuerNotice[] {
  const byPrefix = new Map<string, number[]>();
  recipients.forEach((r, ri) => {
    for (const range of new Set(r.binRanges.map(routingPrefix))) {
      const owners = byPrefix.get(range);
      if (owners) owners.push(ri);
      else byPrefix.set(range, [ri]);
    }
  });
  if (byPrefix.size === 0) return [];
  const indexes: number[][] = recipients.map(() => []);
  indicators.forEach((indicator, i) => {
    const bin = indicator.bin ?? '';
    if (bin.length < ROUTING_BIN_DIGITS) return;
    for (const ri of byPrefix.get(routingPrefix(bin)) ?? []) indexes[ri]?.push(i);
  });
  const notices: IssuerNotice[] = [];
  recipients.forEach((r, ri) => {
    const own = indexes[ri] ?? [];
    if (own.length > 0) notices.push({ issuer: r.id, sealed: sealTo(encodeNoticeIndexes(own), r.boxPublicKey) });
  });
  return notices;
}

export function encodeNoticeIndexes(indexes: readonly number[]): Buffer {
  const out = Buffer.alloc(indexes.length * INDEX_BYTES);
  indexes.forEach((index, i) => out.writeUInt32LE(index, i * INDEX_BYTES));
  return out;
}

/** Undefined unless the plaintext is a non-empty, strictly ascending list of indexes below `indicatorCount`. */
export function decodeNoticeIndexes(plaintext: Uint8Array, indicatorCount: number): number[] | undefined {
  if (plaintext.length === 0 || plaintext.length % INDEX_BYTES !== 0) return undefined;
  const bytes = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  const indexes: number[] = [];
  for (let offset = 0; offset < bytes.length; offset += INDEX_BYTES) {
    const index = bytes.readUInt32LE(offset);
    const previous = indexes[indexes.length - 1];
    if (index >= indicatorCount || (previous !== undefined && index <= previous)) return undefined;
    indexes.push(index);
  }
  return indexes;
}

/**
 * Opens the notice addressed to `member`, if any, with its box key (`open`). Undefined when
 * there is none; `'unreadable'` when one is there but does not open or decode.
 */
export function openIssuerNotice(
  notices: readonly IssuerNotice__Output[] | null | undefined,
  member: string,
  indicatorCount: number,
  open: (sealed: Buffer) => Uint8Array | undefined,
): number[] | 'unreadable' | undefined {
  const notice = (notices ?? []).find((n) => n.issuer === member);
  if (!notice) return undefined;
  const plaintext = open(Buffer.from(notice.sealed));
  return (plaintext && decodeNoticeIndexes(plaintext, indicatorCount)) ?? 'unreadable';
}

/**
 * Well-formedness of a signed entry's notices. The issuers need not be current members: an
 * entry stays acceptable after the consortium file changes.
 */
export function validateIssuerNotices(
  notices: readonly (IssuerNotice__Output | null)[] | null | undefined,
  kind: string,
  indicatorCount: number,
  field: string,
): void {
  const list = notices ?? [];
  if (list.length === 0) return;
  if (kind !== 'INDICATOR_KIND_COMPROMISED_CARD') throw MamoriError.invalidArgument(field, 'only a compromised-card publication carries issuer notices');
  if (list.length > MAX_ISSUER_NOTICES_PER_ENTRY) {
    throw MamoriError.invalidArgument(field, `has ${list.length} notices; the limit is ${MAX_ISSUER_NOTICES_PER_ENTRY}`);
  }
  const maxSealed = SEAL_OVERHEAD_BYTES + INDEX_BYTES * indicatorCount;
  const issuers = new Set<string>();
  list.forEach((notice, i) => {
    const at = `${field}[${i}]`;
    if (!notice) throw MamoriError.invalidArgument(at, 'is required');
    const problem = memberIdProblem(notice.issuer);
    if (problem) throw MamoriError.invalidArgument(`${at}.issuer`, problem);
    if (issuers.has(notice.issuer)) throw MamoriError.invalidArgument(`${at}.issuer`, 'repeats an earlier notice\'s issuer');
    issuers.add(notice.issuer);
    const length = notice.sealed?.length ?? 0;
    const indexBytes = length - SEAL_OVERHEAD_BYTES;
    if (indexBytes < INDEX_BYTES || indexBytes % INDEX_BYTES !== 0 || length > maxSealed) {
      throw MamoriError.invalidArgument(`${at}.sealed`, `must be a sealed list of 1 to ${indicatorCount} indicator indexes (${SEAL_OVERHEAD_BYTES + INDEX_BYTES} to ${maxSealed} bytes), got ${length} bytes`);
    }
  });
}
