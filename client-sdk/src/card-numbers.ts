// Preparing card numbers for publication, one implementation for the SDK and for
// `mamori import cards`: normalize, refuse public test numbers, hash under the epoch key, and
// take the routing BIN (sent to the member's own node only). Reasons never contain the number.
import { normalizePan } from '../../proto/ts/normalize';
import { routingBin } from '../../proto/ts/routing-bin';
import { panSelector } from '../../proto/ts/trust/domains';
import { isPublicTestPan } from '../../proto/ts/test-cards';

export type PublishablePan = { ok: true; digits: string } | { ok: false; reason: string };

export const TEST_CARD_REASON = 'is a public test card number; test numbers are never published';

/** A card number normalized and checked for publication, or the reason it cannot be published. */
export function publishablePan(pan: unknown): PublishablePan {
  if (typeof pan !== 'string') return { ok: false, reason: `card number is not a string (${typeof pan})` };
  const normalized = normalizePan(pan);
  if (!normalized.ok) return { ok: false, reason: `card number ${normalized.reason}` };
  if (isPublicTestPan(normalized.digits)) return { ok: false, reason: TEST_CARD_REASON };
  return normalized;
}

/** What a publication carries for one card: its selector under the epoch key, and its routing BIN. */
export function publishedCard(key: Uint8Array, digits: string): { digest: Buffer; bin: string } {
  return { digest: panSelector(key, digits), bin: routingBin(digits) };
}
