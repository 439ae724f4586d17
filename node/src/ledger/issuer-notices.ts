// Issuer notices: how a compromised-card listing reaches the issuers of its cards without a BIN
// in the signed entry (docs/design.md#bin-routing: a BIN next to a PAN selector shrinks the brute-force space
// of that card ~10^6-fold for every member). The publishing node matches each card's BIN on the
// member-local hop, then seals to each issuer the indexes of its cards in the entry; only that
// issuer can open them. A notice names no one: its tag is a keyed hash only the origin and the
// issuer can compute (proto/ts/trust/domains.ts), notices are sorted by tag, and the sealed
// indexes are padded to a power-of-two bucket. Every other member sees how many issuers were
// notified and each notice's bucket, nothing more (docs/design.md#card-listings).
//
// Older entries carry the named form (issuer id in clear, no padding): still accepted and
// still recognised by their issuer.
import type { IssuerNotice__Output } from '../../../proto/gen/mamori/v1/IssuerNotice';
import { ROUTING_BIN_DIGITS } from '../../../proto/ts/routing-bin';
import { ISSUER_NOTICE_TAG_BYTES, issuerNoticeTag } from '../../../proto/ts/trust/domains';
import { sealTo } from '../crypto/sealed-box';
import { MamoriError } from './errors';
import { memberIdProblem } from './limits';

/** crypto_box_seal overhead: an ephemeral X25519 public key and a MAC. */
export const SEAL_OVERHEAD_BYTES = 48;
/** The sealed box's ephemeral public key: its first bytes, what a notice's tag is computed over. */
const EPHEMERAL_KEY_BYTES = 32;
const INDEX_BYTES = 4;
/** Fills a notice's slots after its last index; never a valid index (an entry holds at most 10,000 cards). */
const PADDING_INDEX = 0xffffffff;
/** The smallest bucket: a notice of 1 to 4 cards is one size. */
export const MIN_NOTICE_SLOTS = 4;
/** At most this many issuers are notified by one entry. */
export const MAX_ISSUER_NOTICES_PER_ENTRY = 64;

export interface NoticeRecipient {
  id: string;
  binRanges: readonly string[];
  boxPublicKey: Uint8Array;
}

/** The publishing node's side: the tag key it shares with a recipient (its own box key stays with it). */
export interface NoticeSender {
  tagKeyTo(recipientBoxPublicKey: Uint8Array): Uint8Array;
}

/** The issuer's side: the tag key it shares with an entry's origin, and its box key to open a notice. */
export interface NoticeReader {
  /** Undefined when the origin's box key is not known (no tagged notice of it can be recognised). */
  tagKeyFrom(origin: string): Uint8Array | undefined;
  open(sealed: Buffer): Uint8Array | undefined;
}

export interface IssuerNotice {
  /** Empty in the tagged form (what nodes write); a member id in the named form of older entries. */
  issuer: string;
  tag: Buffer;
  sealed: Buffer;
}

/** The slots a notice of `cards` indexes is padded to: max(4, the next power of two). */
export function noticeSlots(cards: number): number {
  let slots = MIN_NOTICE_SLOTS;
  while (slots < cards) slots *= 2;
  return slots;
}

/** The routing prefix a BIN range or a card's BIN is matched on (card-testing uses the same). */
const routingPrefix = (bin: string): string => bin.slice(0, ROUTING_BIN_DIGITS);

/**
 * One tagged notice per recipient owning at least one card's BIN, with the indexes of those
 * cards ascending and padded to a bucket; notices sorted by tag. Cards without a BIN (or
 * shorter than the routing prefix) notify no one. More than 64 issuers: INVALID_ARGUMENT (the
 * entry would be refused by every peer).
 */
export function buildIssuerNotices(
  indicators: readonly { bin?: string | null }[],
  recipients: readonly NoticeRecipient[],
  sender: NoticeSender,
): IssuerNotice[] {
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
  const notified = indexes.filter((own) => own.length > 0).length;
  if (notified > MAX_ISSUER_NOTICES_PER_ENTRY) {
    // Peers refuse such an entry: refuse the publication before it is signed.
    throw MamoriError.invalidArgument('publication.indicators', `the cards belong to ${notified} issuers; one publication notifies at most ${MAX_ISSUER_NOTICES_PER_ENTRY}: split it`);
  }
  const notices: IssuerNotice[] = [];
  recipients.forEach((r, ri) => {
    const own = indexes[ri] ?? [];
    if (own.length === 0) return;
    const sealed = sealTo(encodeNoticeIndexes(own, noticeSlots(own.length)), r.boxPublicKey);
    const tag = issuerNoticeTag(sender.tagKeyTo(r.boxPublicKey), sealed.subarray(0, EPHEMERAL_KEY_BYTES));
    notices.push({ issuer: '', tag, sealed });
  });
  return notices.sort((a, b) => Buffer.compare(a.tag, b.tag));
}

/** The indexes as uint32 little-endian, then padding up to `slots` (no padding by default: the named form). */
export function encodeNoticeIndexes(indexes: readonly number[], slots = indexes.length): Buffer {
  const out = Buffer.alloc(Math.max(slots, indexes.length) * INDEX_BYTES, 0xff);
  indexes.forEach((index, i) => out.writeUInt32LE(index, i * INDEX_BYTES));
  return out;
}

/**
 * Undefined unless the plaintext is a non-empty, strictly ascending list of indexes below
 * `indicatorCount`, followed only by padding (none in the named form).
 */
export function decodeNoticeIndexes(plaintext: Uint8Array, indicatorCount: number): number[] | undefined {
  if (plaintext.length === 0 || plaintext.length % INDEX_BYTES !== 0) return undefined;
  const bytes = Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength);
  const indexes: number[] = [];
  let padded = false;
  for (let offset = 0; offset < bytes.length; offset += INDEX_BYTES) {
    const index = bytes.readUInt32LE(offset);
    if (index === PADDING_INDEX) {
      padded = true;
      continue;
    }
    const previous = indexes[indexes.length - 1];
    if (padded || index >= indicatorCount || (previous !== undefined && index <= previous)) return undefined;
    indexes.push(index);
  }
  return indexes.length > 0 ? indexes : undefined;
}

/** The notice of `origin`'s entry addressed to `member`: by its tag, or by name in an older entry. */
export function findIssuerNotice(
  notices: readonly IssuerNotice__Output[] | null | undefined,
  origin: string,
  member: string,
  reader: Pick<NoticeReader, 'tagKeyFrom'>,
): IssuerNotice__Output | undefined {
  const list = notices ?? [];
  if (list.length === 0) return undefined;
  const named = list.find((n) => n.issuer !== '' && n.issuer === member);
  if (named) return named;
  if (!list.some((n) => (n.tag?.length ?? 0) > 0)) return undefined;
  const key = reader.tagKeyFrom(origin);
  if (!key) return undefined;
  return list.find(
    (n) => n.tag?.length === ISSUER_NOTICE_TAG_BYTES && n.sealed.length >= EPHEMERAL_KEY_BYTES && issuerNoticeTag(key, n.sealed.subarray(0, EPHEMERAL_KEY_BYTES)).equals(n.tag),
  );
}

/**
 * Opens the notice of `origin`'s entry addressed to `member`, if any. Undefined when there is
 * none; `'unreadable'` when one is there but does not open or decode.
 */
export function openIssuerNotice(
  notices: readonly IssuerNotice__Output[] | null | undefined,
  origin: string,
  member: string,
  indicatorCount: number,
  reader: NoticeReader,
): number[] | 'unreadable' | undefined {
  const notice = findIssuerNotice(notices, origin, member, reader);
  if (!notice) return undefined;
  const plaintext = reader.open(Buffer.from(notice.sealed));
  return (plaintext && decodeNoticeIndexes(plaintext, indicatorCount)) ?? 'unreadable';
}

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/**
 * Well-formedness of a signed entry's notices: what any member can check without knowing who
 * they are for. Tagged form: no issuer, a 16-byte tag, tags strictly ascending (so distinct),
 * sealed size = 48 + 4·slots with slots a power of two from 4 up to the bucket of the entry's
 * card count. Named form (older entries): a valid member id once per entry, 1 to n indexes. One
 * entry holds one form. The issuers need not be current members: an entry stays acceptable
 * after the consortium file changes.
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
  const tagged = (list[0]?.tag?.length ?? 0) > 0;
  const issuers = new Set<string>();
  let previousTag: Buffer | undefined;
  list.forEach((notice, i) => {
    const at = `${field}[${i}]`;
    if (!notice) throw MamoriError.invalidArgument(at, 'is required');
    const tag = notice.tag ?? Buffer.alloc(0);
    const length = notice.sealed?.length ?? 0;
    if (tagged) {
      if (notice.issuer !== '') throw MamoriError.invalidArgument(`${at}.issuer`, 'must be empty in a tagged notice (one entry holds one form)');
      if (tag.length !== ISSUER_NOTICE_TAG_BYTES) throw MamoriError.invalidArgument(`${at}.tag`, `must be ${ISSUER_NOTICE_TAG_BYTES} bytes, got ${tag.length}`);
      if (previousTag && Buffer.compare(previousTag, tag) >= 0) throw MamoriError.invalidArgument(`${at}.tag`, 'must follow the previous notice\'s tag in ascending order');
      previousTag = tag;
      const maxSlots = noticeSlots(indicatorCount);
      const slots = (length - SEAL_OVERHEAD_BYTES) / INDEX_BYTES;
      if (!Number.isInteger(slots) || slots < MIN_NOTICE_SLOTS || slots > maxSlots || !isPowerOfTwo(slots)) {
        throw MamoriError.invalidArgument(
          `${at}.sealed`,
          `must be a sealed bucket of 4 to ${maxSlots} (a power of two) indicator indexes (${SEAL_OVERHEAD_BYTES + INDEX_BYTES * MIN_NOTICE_SLOTS} to ${SEAL_OVERHEAD_BYTES + INDEX_BYTES * maxSlots} bytes), got ${length} bytes`,
        );
      }
      return;
    }
    if (tag.length > 0) throw MamoriError.invalidArgument(`${at}.tag`, 'must be empty in a named notice (one entry holds one form)');
    const problem = memberIdProblem(notice.issuer);
    if (problem) throw MamoriError.invalidArgument(`${at}.issuer`, problem);
    if (issuers.has(notice.issuer)) throw MamoriError.invalidArgument(`${at}.issuer`, 'repeats an earlier notice\'s issuer');
    issuers.add(notice.issuer);
    const maxSealed = SEAL_OVERHEAD_BYTES + INDEX_BYTES * indicatorCount;
    const indexBytes = length - SEAL_OVERHEAD_BYTES;
    if (indexBytes < INDEX_BYTES || indexBytes % INDEX_BYTES !== 0 || length > maxSealed) {
      throw MamoriError.invalidArgument(`${at}.sealed`, `must be a sealed list of 1 to ${indicatorCount} indicator indexes (${SEAL_OVERHEAD_BYTES + INDEX_BYTES} to ${maxSealed} bytes), got ${length} bytes`);
    }
  });
}
