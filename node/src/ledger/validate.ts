// Well-formedness of operations, shared by the member-local API (a client's request) and
// entry acceptance (a peer's entry). Errors name the field and the reason, never a value
// that could be card data.
import { DIGEST_BYTES } from '../../../proto/ts/trust/domains';
import { ledgerProtoRoot } from '../../../proto/ts/loader';
import { IndicatorKind } from '../../../proto/gen/mamori/v1/IndicatorKind';
import { SelectorType } from '../../../proto/gen/mamori/v1/SelectorType';
import { ReasonCode } from '../../../proto/gen/mamori/v1/ReasonCode';
import { DataElement } from '../../../proto/gen/mamori/v1/DataElement';
import { RetractReason } from '../../../proto/gen/mamori/v1/RetractReason';
import type { PublishIndicators__Output } from '../../../proto/gen/mamori/v1/PublishIndicators';
import type { Selector__Output } from '../../../proto/gen/mamori/v1/Selector';
import type { IndicatorKind__Output } from '../../../proto/gen/mamori/v1/IndicatorKind';
import type { SelectorType__Output } from '../../../proto/gen/mamori/v1/SelectorType';
import type { RetractReason__Output } from '../../../proto/gen/mamori/v1/RetractReason';
import { looksLikeCardNumber } from '../../../proto/ts/normalize';
import { MamoriError } from './errors';
import { BIN_PATTERN, EVENT_ID_PATTERN, LIMITS, LOOKS_LIKE_CARD_NUMBER } from './limits';
import type { IndicatorKindName } from './roles';
import { validateIssuerNotices } from './issuer-notices';

export interface ValidSelector {
  type: Exclude<SelectorType__Output, 'SELECTOR_TYPE_UNSPECIFIED'>;
  digest: Buffer;
}

const CARD_REASON_MAX = 19;
export const MERCHANT_SELECTOR_TYPES: ReadonlySet<string> = new Set([
  'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER',
  'SELECTOR_TYPE_MERCHANT_DOMAIN',
  'SELECTOR_TYPE_MERCHANT_PHONE',
  'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS',
  'SELECTOR_TYPE_MERCHANT_REPRESENTATIVE',
  'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID',
]);

/**
 * The two PAN selector types: a keyed hash under a hashing-key epoch (SELECTOR_TYPE_PAN) and
 * the threshold PRF's oblivious selector (SELECTOR_TYPE_PAN_OBLIVIOUS, docs/oprf.md). A
 * compromised-card indicator takes either; which ones a node accepts from its own clients
 * depends on the consortium's PAN-selector phase (membership/pan-selector-phase.ts).
 */
export const PAN_SELECTOR_TYPES: ReadonlySet<string> = new Set(['SELECTOR_TYPE_PAN', 'SELECTOR_TYPE_PAN_OBLIVIOUS']);

export function isPanSelectorType(type: string): boolean {
  return PAN_SELECTOR_TYPES.has(type);
}

/** Selector types some indicator kind uses: what a check may ask about. */
export const CHECKABLE_SELECTOR_TYPES: ReadonlySet<string> = new Set([...PAN_SELECTOR_TYPES, ...MERCHANT_SELECTOR_TYPES]);

/**
 * A whole number from `min` to `max`, or INVALID_ARGUMENT naming the field and the range. An
 * int64 or uint64 beyond 2^53 arrives as an imprecise number: it is refused here, by its range,
 * before any check that would give another reason ("must be later than ...").
 */
export function integerInRange(value: unknown, field: string, min: number, max: number, what = 'an integer'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw MamoriError.invalidArgument(field, `must be ${what} from ${min} to ${max}`);
  }
  return value;
}

/** A time in milliseconds since the epoch, within what a JavaScript number holds exactly. */
export function timeMs(value: unknown, field: string, min = 0): number {
  return integerInRange(value, field, min, Number.MAX_SAFE_INTEGER, 'a time in milliseconds since the epoch');
}

/** Refuses an identifier that holds what looks like a card number (proto/ts/normalize.ts). */
export function rejectCardNumber(value: string, field: string): void {
  if (looksLikeCardNumber(value)) throw MamoriError.invalidArgument(field, LOOKS_LIKE_CARD_NUMBER);
}

/** An enum field decoded with enums: String holds a number when the value is unknown. */
export function enumValue<T extends string>(
  values: Readonly<Record<string, string>>,
  value: unknown,
  field: string,
  allowUnspecified = false,
): T {
  if (typeof value !== 'string' || !Object.hasOwn(values, value)) {
    throw MamoriError.invalidArgument(field, `unknown value ${JSON.stringify(value)}; expected one of ${Object.keys(values).filter((v) => allowUnspecified || !v.endsWith('_UNSPECIFIED')).join(', ')}`);
  }
  if (!allowUnspecified && value.endsWith('_UNSPECIFIED')) {
    throw MamoriError.invalidArgument(field, 'is required');
  }
  return value as T;
}

export function validateSelector(selector: Selector__Output | null | undefined, field: string): ValidSelector {
  if (!selector) throw MamoriError.invalidArgument(field, 'is required');
  const type = enumValue<ValidSelector['type']>(SelectorType, selector.type, `${field}.type`);
  const digest = selector.digest;
  if (!digest || digest.length !== DIGEST_BYTES) {
    throw MamoriError.invalidArgument(`${field}.digest`, `must be ${DIGEST_BYTES} bytes, got ${digest ? digest.length : 0}`);
  }
  return { type, digest: Buffer.isBuffer(digest) ? digest : Buffer.from(digest) };
}

export function validateSelectors(selectors: Selector__Output[] | undefined, field: string, max: number): ValidSelector[] {
  if (!selectors || selectors.length === 0) throw MamoriError.invalidArgument(field, 'must contain at least one selector');
  if (selectors.length > max) throw MamoriError.invalidArgument(field, `has ${selectors.length} selectors; the limit is ${max}`);
  return selectors.map((s, i) => validateSelector(s, `${field}[${i}]`));
}

/** Why a check refuses a selector type. */
const notCheckable = (type: string) => `${type} is a type no indicator kind uses; a check takes SELECTOR_TYPE_PAN, SELECTOR_TYPE_PAN_OBLIVIOUS or a merchant selector type`;

/** Refuses the same selector twice in one list: an entry must never name a selector twice. */
/** A check's selectors: well-formed, and of a type some indicator kind uses. */
export function validateCheckSelectors(selectors: Selector__Output[] | undefined, field: string, max: number): ValidSelector[] {
  const valid = validateSelectors(selectors, field, max);
  valid.forEach((s, i) => {
    if (!CHECKABLE_SELECTOR_TYPES.has(s.type)) {
      throw MamoriError.invalidArgument(`${field}[${i}].type`, notCheckable(s.type));
    }
  });
  return valid;
}

/** A packed check (docs/protocol.md#packed-checks): `count` digests of one type, back to back. */
export interface PackedSelectors {
  type: ValidSelector['type'];
  digests: Buffer;
  count: number;
}

/** The packed form of a check: whole 32-byte digests, at most `max`, a checkable type, and not beside the repeated form. */
export function validatePackedCheck(request: { selectors?: readonly unknown[]; packedDigests?: Uint8Array; packedType?: unknown }, max: number, at = ''): PackedSelectors {
  // `at` is the path of the request inside a larger message (CheckStream's "check."), so a refusal names the field as sent.
  const digestsField = `${at}packedDigests`;
  const digests = request.packedDigests;
  if (!digests || digests.length === 0) throw MamoriError.invalidArgument(digestsField, 'must contain at least one digest');
  if ((request.selectors?.length ?? 0) > 0) throw MamoriError.invalidArgument(digestsField, 'give the selectors or packed digests, not both');
  if (digests.length % DIGEST_BYTES !== 0) {
    throw MamoriError.invalidArgument(digestsField, `${digests.length} bytes is not a whole number of ${DIGEST_BYTES}-byte digests`);
  }
  const count = digests.length / DIGEST_BYTES;
  if (count > max) throw MamoriError.invalidArgument(digestsField, `has ${count} selectors; the limit is ${max}`);
  const type = enumValue<ValidSelector['type']>(SelectorType, request.packedType, `${at}packedType`);
  if (!CHECKABLE_SELECTOR_TYPES.has(type)) {
    throw MamoriError.invalidArgument(`${at}packedType`, notCheckable(type));
  }
  return { type, digests: Buffer.isBuffer(digests) ? digests : Buffer.from(digests), count };
}

export function rejectRepeatedSelectors(selectors: readonly ValidSelector[], field: string): void {
  const seen = new Set<string>();
  selectors.forEach((s, i) => {
    const key = s.digest.toString('latin1');
    if (seen.has(key)) throw MamoriError.invalidArgument(`${field}[${i}]`, 'repeats an earlier selector of the same list');
    seen.add(key);
  });
}

export function validateKind(kind: unknown, field: string): IndicatorKindName {
  return enumValue<IndicatorKindName>(IndicatorKind, kind as IndicatorKind__Output, field);
}

function checkSelectorFitsKind(kind: IndicatorKindName, selector: ValidSelector, field: string): void {
  if (kind === 'INDICATOR_KIND_COMPROMISED_CARD' && !PAN_SELECTOR_TYPES.has(selector.type)) {
    throw MamoriError.invalidArgument(`${field}.type`, `a compromised-card indicator takes a SELECTOR_TYPE_PAN or SELECTOR_TYPE_PAN_OBLIVIOUS selector, not ${selector.type}`);
  }
  if (kind === 'INDICATOR_KIND_FRAUDULENT_MERCHANT' && !MERCHANT_SELECTOR_TYPES.has(selector.type)) {
    throw MamoriError.invalidArgument(`${field}.type`, `a merchant indicator takes merchant selectors, not ${selector.type}`);
  }
}

/**
 * The validity window of a publication. Always: two times in milliseconds, the end after the
 * start. Against `referenceMs` when given (now for a client's request, the entry's createdAtMs
 * for a signed entry, so every node decides an entry alike at any time): the start at most 5
 * minutes after it, the end at most 10 years after it; a request's end not already past.
 */
function validateValidity(p: PublishIndicators__Output, field: string, source: 'request' | 'entry', referenceMs: number | undefined): void {
  const from = timeMs(p.validFromMs, `${field}.validFromMs`);
  const until = timeMs(p.validUntilMs, `${field}.validUntilMs`);
  if (until <= from) throw MamoriError.invalidArgument(`${field}.validUntilMs`, 'must be later than validFromMs');
  if (referenceMs === undefined) return;
  const reference = source === 'request' ? 'now' : 'the entry\'s createdAtMs';
  if (from > referenceMs + LIMITS.maxValidFromAheadMs) {
    throw MamoriError.invalidArgument(`${field}.validFromMs`, `must be at most ${LIMITS.maxValidFromAheadMs / 60_000} minutes after ${reference} (a listing starts when it is published)`);
  }
  if (until > referenceMs + LIMITS.maxValidUntilAheadMs) {
    throw MamoriError.invalidArgument(`${field}.validUntilMs`, `must be at most 10 years (${LIMITS.maxValidUntilAheadMs / 86_400_000} days) after ${reference}`);
  }
  if (source === 'request' && until <= referenceMs) {
    throw MamoriError.invalidArgument(`${field}.validUntilMs`, 'is already past: a listing must still be valid when it is published');
  }
}

/**
 * Validates a publication; returns it with enum values checked and digests as Buffers. A
 * client's request (`'request'`, the member-local hop) may carry cards' BINs and no issuer
 * notices; a signed entry (`'entry'`) carries notices and never a BIN. `referenceMs` bounds
 * the validity window (validateValidity): the node passes now for a request, acceptance the
 * entry's createdAtMs; without it only the window's own order is checked.
 */
export function validatePublication(
  p: PublishIndicators__Output | null | undefined,
  field: string,
  source: 'request' | 'entry' = 'request',
  referenceMs?: number,
): PublishIndicators__Output {
  if (!p) throw MamoriError.invalidArgument(field, 'is required');
  const kind = validateKind(p.kind, `${field}.kind`);
  const reason = enumValue<string>(ReasonCode, p.reason, `${field}.reason`);
  const reasonNumber = Number(ReasonCodeNumbers[reason]);
  if (kind === 'INDICATOR_KIND_COMPROMISED_CARD' && reasonNumber > CARD_REASON_MAX) {
    throw MamoriError.invalidArgument(`${field}.reason`, `${reason} is a merchant reason; a card needs a card reason`);
  }
  if (kind === 'INDICATOR_KIND_FRAUDULENT_MERCHANT' && reasonNumber <= CARD_REASON_MAX) {
    throw MamoriError.invalidArgument(`${field}.reason`, `${reason} is a card reason; a merchant needs a merchant reason`);
  }
  const exposedSeen = new Set<string>();
  (p.exposed ?? []).forEach((e, i) => {
    const value = enumValue<string>(DataElement, e, `${field}.exposed[${i}]`);
    if (exposedSeen.has(value)) throw MamoriError.invalidArgument(`${field}.exposed[${i}]`, `${value} is listed twice`);
    exposedSeen.add(value);
  });
  if (!Number.isInteger(p.confidence) || p.confidence < 0 || p.confidence > LIMITS.maxConfidence) {
    throw MamoriError.invalidArgument(`${field}.confidence`, `must be an integer from 0 to ${LIMITS.maxConfidence}`);
  }
  validateValidity(p, field, source, referenceMs);
  if ((p.eventId ?? '') !== '' && !EVENT_ID_PATTERN.test(p.eventId)) {
    throw MamoriError.invalidArgument(`${field}.eventId`, 'must be 1-64 characters of A-Z a-z 0-9 . _ : - (an identifier, not free text)');
  }
  rejectCardNumber(p.eventId ?? '', `${field}.eventId`);
  const indicators = p.indicators ?? [];
  if (indicators.length === 0) throw MamoriError.invalidArgument(`${field}.indicators`, 'must contain at least one indicator');
  if (indicators.length > LIMITS.maxIndicatorsPerEntry) {
    throw MamoriError.invalidArgument(`${field}.indicators`, `has ${indicators.length} indicators; the limit is ${LIMITS.maxIndicatorsPerEntry}`);
  }
  for (let i = 0; i < indicators.length; i++) {
    const ind = indicators[i];
    const at = `${field}.indicators[${i}]`;
    if (!ind) throw MamoriError.invalidArgument(at, 'is required');
    const selectors = validateSelectors(ind.selectors, `${at}.selectors`, LIMITS.maxSelectorsPerIndicator);
    selectors.forEach((s, j) => checkSelectorFitsKind(kind, s, `${at}.selectors[${j}]`));
    rejectRepeatedSelectors(selectors, `${at}.selectors`);
    if (kind === 'INDICATOR_KIND_COMPROMISED_CARD' && selectors.length !== 1) {
      throw MamoriError.invalidArgument(`${at}.selectors`, 'a compromised-card indicator has exactly one PAN selector');
    }
    if (source === 'entry' && (ind.bin ?? '') !== '') {
      throw MamoriError.invalidArgument(`${at}.bin`, 'must be empty in a signed entry (issuers are reached by sealed issuerNotices)');
    }
    if ((ind.bin ?? '') !== '' && !BIN_PATTERN.test(ind.bin)) {
      throw MamoriError.invalidArgument(`${at}.bin`, 'must be the first 6 to 8 digits of the card number');
    }
    ind.selectors = selectors;
  }
  if (source === 'request' && (p.issuerNotices ?? []).length > 0) {
    throw MamoriError.invalidArgument(`${field}.issuerNotices`, 'must be empty: the node seals them from the cards\' BINs');
  }
  if (source === 'entry') validateIssuerNotices(p.issuerNotices, kind, indicators.length, `${field}.issuerNotices`);
  return p;
}

export interface ValidRetraction {
  kind: IndicatorKindName;
  selectors: ValidSelector[];
  reason: Exclude<RetractReason__Output, 'RETRACT_REASON_UNSPECIFIED'>;
}

export function validateRetraction(
  r: { kind: unknown; selectors: Selector__Output[]; reason: unknown } | null | undefined,
  field: string,
): ValidRetraction {
  if (!r) throw MamoriError.invalidArgument(field, 'is required');
  const kind = validateKind(r.kind, `${field}.kind`);
  const selectors = validateSelectors(r.selectors, `${field}.selectors`, LIMITS.maxSelectorsPerRetract);
  selectors.forEach((s, i) => checkSelectorFitsKind(kind, s, `${field}.selectors[${i}]`));
  const reason = enumValue<ValidRetraction['reason']>(RetractReason, r.reason, `${field}.reason`);
  return { kind, selectors, reason };
}

/** Numeric values of reason codes (card reasons are 1..19, merchant reasons 20+). */
const ReasonCodeNumbers: Readonly<Record<string, number>> = Object.freeze({
  ...ledgerProtoRoot().lookupEnum('mamori.v1.ReasonCode').values,
});

export interface ValidCardTestingReport {
  bin: string;
  bucketStartMs: number;
  bucketMinutes: number;
  attempts: number;
  declines: number;
  merchant: ValidSelector | null;
}

/** A card-testing report: a BIN of 6-8 digits, an aligned time bucket, counts, an optional merchant selector. */
export function validateCardTestingReport(
  r: { bin: string; bucketStartMs: number; bucketMinutes: number; attempts: number; declines: number; merchant?: Selector__Output | null } | null | undefined,
  field: string,
): ValidCardTestingReport {
  if (!r) throw MamoriError.invalidArgument(field, 'is required');
  if (typeof r.bin !== 'string' || !BIN_PATTERN.test(r.bin)) {
    throw MamoriError.invalidArgument(`${field}.bin`, 'must be the first 6 to 8 digits of the card numbers tested');
  }
  integerInRange(r.bucketMinutes, `${field}.bucketMinutes`, 1, LIMITS.maxCardTestingBucketMinutes);
  timeMs(r.bucketStartMs, `${field}.bucketStartMs`, 1);
  if (r.bucketStartMs % (r.bucketMinutes * 60_000) !== 0) {
    throw MamoriError.invalidArgument(`${field}.bucketStartMs`, 'must be a multiple of bucketMinutes (in milliseconds)');
  }
  integerInRange(r.attempts, `${field}.attempts`, 1, LIMITS.maxCardTestingAttempts);
  if (typeof r.declines !== 'number' || !Number.isSafeInteger(r.declines) || r.declines < 0 || r.declines > r.attempts) {
    throw MamoriError.invalidArgument(`${field}.declines`, `must be an integer from 0 to attempts (${r.attempts})`);
  }
  let merchant: ValidSelector | null = null;
  if (r.merchant) {
    merchant = validateSelector(r.merchant, `${field}.merchant`);
    if (!MERCHANT_SELECTOR_TYPES.has(merchant.type)) {
      throw MamoriError.invalidArgument(`${field}.merchant.type`, `must be a merchant selector, not ${merchant.type}`);
    }
  }
  return { bin: r.bin, bucketStartMs: r.bucketStartMs, bucketMinutes: r.bucketMinutes, attempts: r.attempts, declines: r.declines, merchant };
}
