// Common point of purchase, as an issuer reports it and an acquirer watches for it. Card
// numbers and merchant fields are hashed here, in the caller's process; the node receives
// selectors only and seals the report to the consortium's aggregator.
//
// A merchant is named by every field given for it, each as its own selector (like a merchant
// listing): issuers that know different fields of one merchant still meet on the ones they
// share. Each selector is analysed on its own, so an acquirer watching a merchant by two
// fields may be alerted once per field that is flagged.
import type { FraudReportContents } from '../../proto/gen/mamori/v1/FraudReportContents';
import type { Selector } from '../../proto/gen/mamori/v1/Selector';
import type { MerchantFields, MerchantSelector } from '../../proto/ts/merchant';
import { MamoriClientError } from './errors';

export interface FraudReportInput {
  /** The look-back window the report covers. */
  windowStartMs: number;
  windowEndMs: number;
  /** Confirmed-fraud cards, each with the merchants it used in the window. */
  cards: { pan: string; merchants: MerchantFields[] }[];
  /** For every merchant a card names: how many of the issuer's cards (fraud or not) used it in the window. */
  volumes: { merchant: MerchantFields; cards: number }[];
  /** The issuer's cards active in the window. */
  activeCards: number;
}

export interface FraudReportHashing {
  /** Card digits, normalized (INVALID_PAN names the position of a bad one). */
  normalizePans(pans: readonly string[]): string[];
  panDigest(digits: string): Buffer;
  merchantSelectors(fields: MerchantFields): MerchantSelector[];
}

const selectorOf = (s: MerchantSelector): Selector => ({ type: s.type, digest: s.digest });

export function fraudReportContents(input: FraudReportInput, hashing: FraudReportHashing): FraudReportContents {
  if (!input || !Array.isArray(input.cards)) throw new MamoriClientError('INVALID_ARGUMENT', 'cards: expected an array of { pan, merchants }');
  if (!Array.isArray(input.volumes)) throw new MamoriClientError('INVALID_ARGUMENT', 'volumes: expected an array of { merchant, cards }');
  const digits = hashing.normalizePans(input.cards.map((c) => c?.pan));
  // The same card twice (two spellings of one number) is one card with the merchants of both.
  const cards = new Map<string, { card: Buffer; merchants: Map<string, Selector> }>();
  input.cards.forEach((c, i) => {
    if (!Array.isArray(c.merchants)) throw new MamoriClientError('INVALID_ARGUMENT', `cards[${i}].merchants: expected an array of merchant fields`);
    const card = hashing.panDigest(digits[i] as string);
    const entry = cards.get(card.toString('latin1')) ?? { card, merchants: new Map<string, Selector>() };
    for (const fields of c.merchants) for (const s of hashing.merchantSelectors(fields)) entry.merchants.set(s.digest.toString('latin1'), selectorOf(s));
    cards.set(card.toString('latin1'), entry);
  });
  // Two merchants sharing a field (a phone number, say) share its selector: their volumes add up.
  const volumes = new Map<string, { merchant: Selector; cards: number }>();
  input.volumes.forEach((v, i) => {
    if (!Number.isSafeInteger(v?.cards) || v.cards < 1) throw new MamoriClientError('INVALID_ARGUMENT', `volumes[${i}].cards: expected a whole number of at least 1`);
    for (const s of hashing.merchantSelectors(v.merchant)) {
      const key = s.digest.toString('latin1');
      const known = volumes.get(key);
      if (known) known.cards += v.cards;
      else volumes.set(key, { merchant: selectorOf(s), cards: v.cards });
    }
  });
  return {
    windowStartMs: input.windowStartMs,
    windowEndMs: input.windowEndMs,
    activeCards: input.activeCards,
    cards: [...cards.values()].map((c) => ({ card: c.card, merchants: [...c.merchants.values()] })),
    volumes: [...volumes.values()],
  };
}
