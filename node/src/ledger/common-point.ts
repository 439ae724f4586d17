// Common point of purchase (DESIGN.md §8): the well-formedness of a fraud report's sealed
// envelope (checked by every node), of its contents (checked by the member-local API before
// sealing, and by the aggregator after opening), and of the aggregator's flags entry.
import * as protobuf from 'protobufjs';
import { ledgerProtoRoot, TO_OBJECT_OPTIONS } from '../../../proto/ts/loader';
import { DIGEST_BYTES } from '../../../proto/ts/selectors';
import type { CommonPointFlags__Output } from '../../../proto/gen/mamori/v1/CommonPointFlags';
import type { FraudReportContents, FraudReportContents__Output } from '../../../proto/gen/mamori/v1/FraudReportContents';
import type { Selector__Output } from '../../../proto/gen/mamori/v1/Selector';
import { MamoriError } from './errors';
import { LIMITS } from './limits';
import { MERCHANT_SELECTOR_TYPES, validateSelector, type ValidSelector } from './validate';

/** crypto_box_seal adds an ephemeral public key and a MAC. */
const SEAL_OVERHEAD_BYTES = 48;

export interface ValidFraudReport {
  aggregator: string;
  sealed: Buffer;
}

export interface ValidFraudCard {
  card: Buffer;
  merchants: ValidSelector[];
}

export interface ValidFraudReportContents {
  windowStartMs: number;
  windowEndMs: number;
  cards: ValidFraudCard[];
  volumes: { merchant: ValidSelector; cards: number }[];
  activeCards: number;
}

export interface ValidCommonPointFlag {
  merchant: ValidSelector;
  issuers: number;
  fraudCards: number;
  expectedFraudCards: number;
  pValue: number;
  windowStartMs: number;
  windowEndMs: number;
}

export interface ValidCommonPointFlags {
  analysedAtMs: number;
  flags: ValidCommonPointFlag[];
}

/** The envelope every node can check: addressed to the consortium's aggregator, a plausible sealed size. */
export function validateFraudReportEnvelope(
  r: { aggregator: string; sealed: Buffer } | null | undefined,
  field: string,
  consortiumAggregator: string | undefined,
): ValidFraudReport {
  if (!r) throw MamoriError.invalidArgument(field, 'is required');
  if (!consortiumAggregator) throw MamoriError.invalidArgument(`${field}.aggregator`, 'the consortium file names no common-point aggregator');
  if (r.aggregator !== consortiumAggregator) throw MamoriError.invalidArgument(`${field}.aggregator`, `must be the consortium's aggregator "${consortiumAggregator}"`);
  const size = r.sealed?.length ?? 0;
  if (size <= SEAL_OVERHEAD_BYTES || size > LIMITS.maxFraudReportSealedBytes) {
    throw MamoriError.invalidArgument(`${field}.sealed`, `must be ${SEAL_OVERHEAD_BYTES + 1} to ${LIMITS.maxFraudReportSealedBytes} bytes, got ${size}`);
  }
  return { aggregator: r.aggregator, sealed: Buffer.isBuffer(r.sealed) ? r.sealed : Buffer.from(r.sealed) };
}

function merchantSelector(s: Selector__Output | null | undefined, field: string): ValidSelector {
  const selector = validateSelector(s, field);
  if (!MERCHANT_SELECTOR_TYPES.has(selector.type)) throw MamoriError.invalidArgument(`${field}.type`, `must be a merchant selector, not ${selector.type}`);
  return selector;
}

function count(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw MamoriError.invalidArgument(field, `must be an integer of at least ${min}`);
  return value;
}

/**
 * A report's contents: a window, cards (each a PAN digest and the merchants it used), a
 * volume for every merchant named, and the issuer's active cards. Counts must be coherent:
 * a merchant's volume covers at least the reported cards that used it, and the active cards
 * cover every volume.
 */
export function validateFraudReportContents(c: FraudReportContents__Output | null | undefined, field: string): ValidFraudReportContents {
  if (!c) throw MamoriError.invalidArgument(field, 'is required');
  const windowStartMs = count(c.windowStartMs, `${field}.windowStartMs`, 1);
  if (!Number.isSafeInteger(c.windowEndMs) || c.windowEndMs <= windowStartMs) {
    throw MamoriError.invalidArgument(`${field}.windowEndMs`, 'must be later than windowStartMs');
  }
  const rawCards = c.cards ?? [];
  if (rawCards.length === 0) throw MamoriError.invalidArgument(`${field}.cards`, 'must contain at least one card');
  if (rawCards.length > LIMITS.maxFraudCardsPerReport) {
    throw MamoriError.invalidArgument(`${field}.cards`, `has ${rawCards.length} cards; the limit is ${LIMITS.maxFraudCardsPerReport}`);
  }
  const seenCards = new Set<string>();
  const namedBy = new Map<string, number>();
  const cards = rawCards.map((card, i) => {
    const at = `${field}.cards[${i}]`;
    if (!card) throw MamoriError.invalidArgument(at, 'is required');
    if (!card.card || card.card.length !== DIGEST_BYTES) throw MamoriError.invalidArgument(`${at}.card`, `must be a ${DIGEST_BYTES}-byte PAN selector digest`);
    const cardKey = Buffer.from(card.card).toString('latin1');
    if (seenCards.has(cardKey)) throw MamoriError.invalidArgument(`${at}.card`, 'repeats an earlier card of the report');
    seenCards.add(cardKey);
    const list = card.merchants ?? [];
    if (list.length === 0) throw MamoriError.invalidArgument(`${at}.merchants`, 'must name at least one merchant');
    if (list.length > LIMITS.maxMerchantsPerFraudCard) {
      throw MamoriError.invalidArgument(`${at}.merchants`, `has ${list.length} merchants; the limit is ${LIMITS.maxMerchantsPerFraudCard}`);
    }
    const inCard = new Set<string>();
    const merchants = list.map((m, j) => {
      const selector = merchantSelector(m, `${at}.merchants[${j}]`);
      const key = selector.digest.toString('latin1');
      if (inCard.has(key)) throw MamoriError.invalidArgument(`${at}.merchants[${j}]`, 'repeats an earlier merchant of the card');
      inCard.add(key);
      namedBy.set(key, (namedBy.get(key) ?? 0) + 1);
      return selector;
    });
    return { card: Buffer.from(card.card), merchants };
  });
  const rawVolumes = c.volumes ?? [];
  if (rawVolumes.length > LIMITS.maxVolumesPerReport) {
    throw MamoriError.invalidArgument(`${field}.volumes`, `has ${rawVolumes.length} volumes; the limit is ${LIMITS.maxVolumesPerReport}`);
  }
  const activeCards = count(c.activeCards, `${field}.activeCards`, Math.max(1, cards.length));
  const seenVolumes = new Set<string>();
  const volumes = rawVolumes.map((v, i) => {
    const at = `${field}.volumes[${i}]`;
    if (!v) throw MamoriError.invalidArgument(at, 'is required');
    const merchant = merchantSelector(v.merchant, `${at}.merchant`);
    const key = merchant.digest.toString('latin1');
    if (seenVolumes.has(key)) throw MamoriError.invalidArgument(`${at}.merchant`, 'repeats the merchant of an earlier volume');
    seenVolumes.add(key);
    const used = count(v.cards, `${at}.cards`, Math.max(1, namedBy.get(key) ?? 0));
    if (used > activeCards) throw MamoriError.invalidArgument(`${at}.cards`, 'must not exceed activeCards');
    return { merchant, cards: used };
  });
  for (const [i, card] of cards.entries()) {
    const j = card.merchants.findIndex((m) => !seenVolumes.has(m.digest.toString('latin1')));
    if (j >= 0) throw MamoriError.invalidArgument(`${field}.cards[${i}].merchants[${j}]`, 'has no volume in volumes');
  }
  return { windowStartMs, windowEndMs: c.windowEndMs, cards, volumes, activeCards };
}

/** The aggregator's flags entry, as any node checks it: aggregates only, coherent values. */
export function validateCommonPointFlags(f: CommonPointFlags__Output | null | undefined, field: string): ValidCommonPointFlags {
  if (!f) throw MamoriError.invalidArgument(field, 'is required');
  const analysedAtMs = count(f.analysedAtMs, `${field}.analysedAtMs`, 1);
  const list = f.flags ?? [];
  if (list.length === 0) throw MamoriError.invalidArgument(`${field}.flags`, 'must contain at least one flag');
  if (list.length > LIMITS.maxCommonPointFlagsPerEntry) {
    throw MamoriError.invalidArgument(`${field}.flags`, `has ${list.length} flags; the limit is ${LIMITS.maxCommonPointFlagsPerEntry}`);
  }
  const seen = new Set<string>();
  const flags = list.map((flag, i) => {
    const at = `${field}.flags[${i}]`;
    if (!flag) throw MamoriError.invalidArgument(at, 'is required');
    const merchant = merchantSelector(flag.merchant, `${at}.merchant`);
    const key = merchant.digest.toString('latin1');
    if (seen.has(key)) throw MamoriError.invalidArgument(`${at}.merchant`, 'repeats the merchant of an earlier flag');
    seen.add(key);
    const issuers = count(flag.issuers, `${at}.issuers`, 2);
    const fraudCards = count(flag.fraudCards, `${at}.fraudCards`, 1);
    if (!Number.isFinite(flag.expectedFraudCards) || flag.expectedFraudCards < 0) {
      throw MamoriError.invalidArgument(`${at}.expectedFraudCards`, 'must be a finite number of at least 0');
    }
    if (!Number.isFinite(flag.pValue) || flag.pValue < 0 || flag.pValue > 1) throw MamoriError.invalidArgument(`${at}.pValue`, 'must be from 0 to 1');
    const windowStartMs = count(flag.windowStartMs, `${at}.windowStartMs`, 0);
    if (!Number.isSafeInteger(flag.windowEndMs) || flag.windowEndMs <= windowStartMs) {
      throw MamoriError.invalidArgument(`${at}.windowEndMs`, 'must be later than windowStartMs');
    }
    return { merchant, issuers, fraudCards, expectedFraudCards: flag.expectedFraudCards, pValue: flag.pValue, windowStartMs, windowEndMs: flag.windowEndMs };
  });
  return { analysedAtMs, flags };
}

let contentsType: protobuf.Type | undefined;
function fraudReportContentsType(): protobuf.Type {
  contentsType ??= ledgerProtoRoot().lookupType('mamori.v1.FraudReportContents');
  return contentsType;
}

export function encodeFraudReportContents(contents: FraudReportContents): Buffer {
  const type = fraudReportContentsType();
  const bytes = type.encode(type.fromObject(contents as Record<string, unknown>)).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes opened contents; throws MALFORMED_ENTRY when they are not a FraudReportContents. */
export function decodeFraudReportContents(bytes: Uint8Array): FraudReportContents__Output {
  const type = fraudReportContentsType();
  try {
    return type.toObject(type.decode(bytes), TO_OBJECT_OPTIONS) as FraudReportContents__Output;
  } catch (error) {
    throw MamoriError.malformedEntry('sealed contents are not a FraudReportContents', error);
  }
}
