// The member-local end of card-listing routing: a client's Publish carries each card's BIN to
// its own node only; the node seals to every other member with BIN ranges the indexes of its
// cards (ledger/issuer-notices.ts) and signs the publication without a single BIN.
import type { PublishIndicators__Output } from '../../../proto/gen/mamori/v1/PublishIndicators';
import { buildIssuerNotices, type NoticeRecipient } from '../ledger/issuer-notices';
import type { Consortium } from '../membership/consortium';

/** Current members other than `self` that own BIN ranges, with the X25519 key notices are sealed to. */
export function noticeRecipients(consortium: Consortium, self: string): NoticeRecipient[] {
  return consortium
    .currentMembers()
    .filter((m) => m.id !== self && m.binRanges.length > 0)
    .map((m) => ({ id: m.id, binRanges: m.binRanges, boxPublicKey: Buffer.from(m.boxPublicKey, 'base64') }));
}

/** The publication as it is signed: compromised cards' BINs become issuer notices; no indicator keeps a BIN. */
export function routeToIssuers(publication: PublishIndicators__Output, recipients: () => NoticeRecipient[]): PublishIndicators__Output {
  const carriesBins = publication.indicators.some((indicator) => (indicator.bin ?? '') !== '');
  const issuerNotices =
    carriesBins && publication.kind === 'INDICATOR_KIND_COMPROMISED_CARD' ? buildIssuerNotices(publication.indicators, recipients()) : [];
  const indicators = carriesBins ? publication.indicators.map((indicator) => ({ ...indicator, bin: '' })) : publication.indicators;
  return { ...publication, indicators, issuerNotices };
}
