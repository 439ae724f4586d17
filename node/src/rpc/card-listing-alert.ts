// A stored card-listing alert as the Alerts stream sends it.
import type { CardListingAlert } from '../../../proto/gen/mamori/v1/CardListingAlert';
import type { CardListingAlertPayload } from '../detection/card-listings';

export function toCardListingAlert(p: CardListingAlertPayload): CardListingAlert {
  return {
    origin: p.origin,
    seq: p.seq,
    reason: p.reason as CardListingAlert['reason'],
    exposed: p.exposed as CardListingAlert['exposed'],
    eventId: p.eventId,
    cards: p.cards,
    panDigests: p.panDigests.map((hex) => Buffer.from(hex, 'hex')),
    keyEpoch: p.keyEpoch,
    confidence: p.confidence,
    validUntilMs: p.validUntilMs,
  };
}
