// How `mamori alerts` prints a card-listing alert. The human line never shows the PAN selector
// digests; --json carries them hex-encoded for the issuer's own matching against its card base.
import type { MamoriAlert } from '../../../client-sdk/src/alerts';
import { isoDate, shortName } from './output';

export function cardListingLine(a: MamoriAlert): string | undefined {
  const l = a.cardListing;
  if (a.kind !== 'card-listing' || !l) return undefined;
  const exposed = l.exposed.map((e) => shortName(String(e), 'DATA_ELEMENT_')).join(',') || '-';
  const event = l.eventId ? `, event ${l.eventId}` : '';
  return (
    `#${a.id} ${isoDate(a.createdAtMs)} card-listing: ${l.cards} of your card(s) listed by ${l.origin} (entry #${l.seq}), ` +
    `reason ${shortName(String(l.reason), 'REASON_CODE_')}, exposed ${exposed}${event}, key epoch ${l.keyEpoch}, valid until ${isoDate(l.validUntilMs)}`
  );
}

/** An evaluation-count alert: the requesting member, the BIN and the band (never a selector). */
export function oprfEnumerationLine(a: MamoriAlert): string | undefined {
  const e = a.oprfEnumeration;
  if (a.kind !== 'oprf-enumeration' || !e) return undefined;
  return (
    `#${a.id} ${isoDate(a.createdAtMs)} oprf-enumeration: ${e.requestingMember} evaluated BIN ${a.bin} ${e.band} to ${Number(e.band) * 2 - 1} times ` +
    `(reported by evaluator ${e.evaluator}); bucket ${isoDate(a.windowStartMs)} to ${isoDate(a.windowEndMs)}`
  );
}

/** One alert as one JSON line, byte fields hex-encoded. */
export function alertJsonLine(a: MamoriAlert): string {
  return JSON.stringify(a, (_key, v: unknown) => {
    if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return Buffer.from((v as { data: number[] }).data).toString('hex');
    }
    return v;
  });
}
