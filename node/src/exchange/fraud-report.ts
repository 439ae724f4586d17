// An issuer's fraud report as entries of its feed: contents split so that each sealed entry
// stays within the entry size limit (each part carries the window, the active cards and the
// volumes of the merchants its cards name, so each part is a valid report by itself), then
// sealed to the consortium's aggregator.
import type { FraudReportContents } from '../../../proto/gen/mamori/v1/FraudReportContents';
import { sealTo } from '../crypto/sealed-box';
import { encodeFraudReportContents, type ValidFraudReport, type ValidFraudReportContents } from '../ledger/common-point';
import { LIMITS } from '../ledger/limits';

/** Plaintext bytes per part, leaving room for the seal and the entry around it. */
const PART_BUDGET_BYTES = Math.floor(LIMITS.maxFraudReportSealedBytes * 0.9);
/** Generous encoded size of a selector (type, 32-byte digest, framing). */
const SELECTOR_BYTES = 40;
const VOLUME_BYTES = SELECTOR_BYTES + 14;

export function splitFraudReport(contents: ValidFraudReportContents): ValidFraudReportContents[] {
  const volumeOf = new Map(contents.volumes.map((v) => [v.merchant.digest.toString('latin1'), v]));
  const parts: ValidFraudReportContents[] = [];
  let cards: ValidFraudReportContents['cards'] = [];
  let named = new Set<string>();
  let bytes = 0;
  const flush = () => {
    if (cards.length === 0) return;
    const volumes = [...named].map((k) => volumeOf.get(k)).filter((v): v is NonNullable<typeof v> => v !== undefined);
    parts.push({ windowStartMs: contents.windowStartMs, windowEndMs: contents.windowEndMs, activeCards: contents.activeCards, cards, volumes });
    cards = [];
    named = new Set();
    bytes = 0;
  };
  for (const card of contents.cards) {
    const fresh = card.merchants.filter((m) => !named.has(m.digest.toString('latin1'))).length;
    const cost = 40 + card.merchants.length * SELECTOR_BYTES + fresh * VOLUME_BYTES;
    if (bytes + cost > PART_BUDGET_BYTES) flush();
    cards.push(card);
    for (const m of card.merchants) named.add(m.digest.toString('latin1'));
    bytes += cost;
  }
  flush();
  return parts;
}

function toMessage(c: ValidFraudReportContents): FraudReportContents {
  return {
    windowStartMs: c.windowStartMs,
    windowEndMs: c.windowEndMs,
    activeCards: c.activeCards,
    cards: c.cards.map((card) => ({ card: card.card, merchants: card.merchants.map((m) => ({ type: m.type, digest: m.digest })) })),
    volumes: c.volumes.map((v) => ({ merchant: { type: v.merchant.type, digest: v.merchant.digest }, cards: v.cards })),
  };
}

export function sealFraudReport(contents: ValidFraudReportContents, aggregator: string, aggregatorBoxPublicKey: Uint8Array): ValidFraudReport[] {
  return splitFraudReport(contents).map((part) => ({ aggregator, sealed: sealTo(encodeFraudReportContents(toMessage(part)), aggregatorBoxPublicKey) }));
}
