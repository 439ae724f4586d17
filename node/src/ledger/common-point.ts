// Common point of purchase (docs/design.md#common-point): the well-formedness of a fraud report's sealed
// envelope (checked by every node), of its contents (checked by the member-local API before
// sealing, and by the aggregator after opening), and of the aggregator's flags entry.
import * as protobuf from 'protobufjs';
import { ledgerProtoRoot, TO_OBJECT_OPTIONS } from '../../../proto/ts/loader';
import { DIGEST_BYTES } from '../../../proto/ts/trust/domains';
import type { CommonPointFlags__Output } from '../../../proto/gen/mamori/v1/CommonPointFlags';
import type { FraudReportContents, FraudReportContents__Output } from '../../../proto/gen/mamori/v1/FraudReportContents';
import type { Selector__Output } from '../../../proto/gen/mamori/v1/Selector';
import { MamoriError } from './errors';
import { LIMITS, memberIdProblem } from './limits';
import { integerInRange, MERCHANT_SELECTOR_TYPES, timeMs, validateSelector, type ValidSelector } from './validate';

/** crypto_box_seal adds an ephemeral public key and a MAC. */
const SEAL_OVERHEAD_BYTES = 48;
/** A report's window may end at most this far after the time it is checked against (clock skew). */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;
/** More active cards than any issuer has: a larger count would only skew the baseline rate. */
export const MAX_ACTIVE_CARDS = 1_000_000_000;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * What a report's window is checked against, when known: it must not end after `notAfterMs`
 * plus the clock skew (at the API, now; at the aggregator, the entry's creation time), and
 * must not start more than `lookBackDays` before its end (a longer window would stay in the
 * look-back forever or count cards from outside it).
 */
export interface FraudReportWindowBounds {
  notAfterMs?: number;
  lookBackDays?: number;
}

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

/**
 * The envelope every node can check: addressed to a member id, a plausible sealed size. Which
 * member was the aggregator depends on when the report was sealed, and history must verify
 * under any later consortium file: a report addressed to a former aggregator is stored and
 * relayed like any other (only the aggregator it names could open it; the current one never
 * opens a report not addressed to itself).
 */
export function validateFraudReportEnvelope(r: { aggregator: string; sealed: Buffer } | null | undefined, field: string): ValidFraudReport {
  if (!r) throw MamoriError.invalidArgument(field, 'is required');
  const problem = memberIdProblem(r.aggregator);
  if (problem) throw MamoriError.invalidArgument(`${field}.aggregator`, problem);
  const size = r.sealed?.length ?? 0;
  if (size <= SEAL_OVERHEAD_BYTES || size > LIMITS.maxFraudReportSealedBytes) {
    throw MamoriError.invalidArgument(`${field}.sealed`, `must be ${SEAL_OVERHEAD_BYTES + 1} to ${LIMITS.maxFraudReportSealedBytes} bytes, got ${size}`);
  }
  return { aggregator: r.aggregator, sealed: Buffer.isBuffer(r.sealed) ? r.sealed : Buffer.from(r.sealed) };
}

/**
 * Whether a member may sign a flags entry created at a time: the aggregator the consortium
 * file in force names, at any time, or a former aggregator that file lists, for entries
 * created up to the end of its term. The history comes from the operator-signed file, not
 * from the entry: a time limit taken from the entry alone (say, "any member before the file
 * was issued") would let any member backdate an entry and publish flags. A former
 * aggregator can backdate only into its own term, when it was trusted with the same power.
 */
export function wasAggregatorAt(origin: string, createdAtMs: number, member: { commonPointAggregator?: string; formerAggregatorUntilMs?: number }): boolean {
  if (member.commonPointAggregator !== undefined && origin === member.commonPointAggregator) return true;
  return member.formerAggregatorUntilMs !== undefined && Number.isSafeInteger(createdAtMs) && createdAtMs <= member.formerAggregatorUntilMs;
}

function merchantSelector(s: Selector__Output | null | undefined, field: string): ValidSelector {
  const selector = validateSelector(s, field);
  if (!MERCHANT_SELECTOR_TYPES.has(selector.type)) throw MamoriError.invalidArgument(`${field}.type`, `must be a merchant selector, not ${selector.type}`);
  return selector;
}

function count(value: unknown, field: string, min: number): number {
  return integerInRange(value, field, min, Number.MAX_SAFE_INTEGER);
}

/**
 * A report's contents: a window, cards (each a PAN digest and the merchants it used), a
 * volume for every merchant named, and the issuer's active cards. Counts must be coherent:
 * a merchant's volume covers at least the reported cards that used it, and the active cards
 * cover every volume.
 */
export function validateFraudReportContents(
  c: FraudReportContents__Output | null | undefined,
  field: string,
  bounds: FraudReportWindowBounds = {},
): ValidFraudReportContents {
  if (!c) throw MamoriError.invalidArgument(field, 'is required');
  const windowStartMs = count(c.windowStartMs, `${field}.windowStartMs`, 1);
  if (timeMs(c.windowEndMs, `${field}.windowEndMs`) <= windowStartMs) {
    throw MamoriError.invalidArgument(`${field}.windowEndMs`, 'must be later than windowStartMs');
  }
  if (bounds.notAfterMs !== undefined && c.windowEndMs > bounds.notAfterMs + MAX_FUTURE_SKEW_MS) {
    throw MamoriError.invalidArgument(`${field}.windowEndMs`, 'is in the future');
  }
  if (bounds.lookBackDays !== undefined && windowStartMs < c.windowEndMs - bounds.lookBackDays * DAY_MS) {
    throw MamoriError.invalidArgument(`${field}.windowStartMs`, `must be at most ${bounds.lookBackDays} days (the look-back) before windowEndMs`);
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
  if (activeCards > MAX_ACTIVE_CARDS) throw MamoriError.invalidArgument(`${field}.activeCards`, `must be at most ${MAX_ACTIVE_CARDS}`);
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
    if (timeMs(flag.windowEndMs, `${at}.windowEndMs`) <= windowStartMs) {
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
