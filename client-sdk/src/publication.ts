// The PublishIndicators a member signs when it lists compromised cards.
import type { PublishIndicators } from '../../proto/gen/mamori/v1/PublishIndicators';
import { CARD_REASONS, DAY_MS, DEFAULT_CONFIDENCE, DEFAULT_VALID_DAYS, EXPOSURES, type CardListingDetails } from './details';
import { MamoriClientError } from './errors';

/**
 * `bins`, when given, holds the routing BIN of each card (same order as `digests`). They go to
 * this member's own node only, which seals to the issuer owning each range which cards are its
 * (card-listing alerts) and signs the entry without them.
 */
export function cardPublication(
  digests: readonly Buffer[],
  details: CardListingDetails,
  nowMs = Date.now(),
  bins?: readonly string[],
  type: 'SELECTOR_TYPE_PAN' | 'SELECTOR_TYPE_PAN_OBLIVIOUS' = 'SELECTOR_TYPE_PAN',
): PublishIndicators {
  if (bins && bins.length !== digests.length) {
    throw new MamoriClientError('INVALID_ARGUMENT', `bins: has ${bins.length} entries for ${digests.length} card(s); give one per card or none`);
  }
  const reason = CARD_REASONS[details.reason];
  if (!reason) throw new MamoriClientError('INVALID_ARGUMENT', `reason: unknown "${String(details.reason)}"; expected one of ${Object.keys(CARD_REASONS).join(', ')}`);
  const exposed = (details.exposed ?? ['pan']).map((e) => {
    const value = EXPOSURES[e];
    if (!value) throw new MamoriClientError('INVALID_ARGUMENT', `exposure: unknown "${String(e)}"; expected any of ${Object.keys(EXPOSURES).join(', ')}`);
    return value;
  });
  const validDays = details.validDays ?? DEFAULT_VALID_DAYS;
  return {
    kind: 'INDICATOR_KIND_COMPROMISED_CARD',
    reason,
    exposed,
    confidence: details.confidence ?? DEFAULT_CONFIDENCE,
    validFromMs: nowMs,
    validUntilMs: nowMs + Math.round(validDays * DAY_MS),
    eventId: details.eventId ?? '',
    indicators: bins
      ? digests.map((digest, i) => ({ selectors: [{ type, digest }], bin: bins[i] }))
      : digests.map((digest) => ({ selectors: [{ type, digest }] })),
  };
}
