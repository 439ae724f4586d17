// Well-formedness of sightings (docs/design.md#corroboration): feedback from any member on a listed selector.
// Shared by the member-local API (a client's request, which may carry the card's BIN for its
// own node) and entry acceptance (a peer's signed Sightings, which never carries a BIN).
import { SightingOutcome } from '../../../proto/gen/mamori/v1/SightingOutcome';
import type { SightingOutcome__Output } from '../../../proto/gen/mamori/v1/SightingOutcome';
import type { Selector__Output } from '../../../proto/gen/mamori/v1/Selector';
import { MamoriError } from './errors';
import { BIN_PATTERN, LIMITS } from './limits';
import { enumValue, isPanSelectorType, rejectRepeatedSelectors, timeMs, validateSelector, type ValidSelector } from './validate';

export type SightingOutcomeName = Exclude<SightingOutcome__Output, 'SIGHTING_OUTCOME_UNSPECIFIED'>;

export interface ValidSighting {
  selector: ValidSelector;
  outcome: SightingOutcomeName;
  seenAtMs: number;
  byCardIssuer: boolean;
}

/** A client's sighting: the BIN is for its own node only (to tell whether this member issued the card). */
export interface ValidSightingInput {
  selector: ValidSelector;
  outcome: SightingOutcomeName;
  seenAtMs: number;
  bin: string;
}

/** Before this (2020-01-01) a seen_at_ms is a unit mistake (seconds for milliseconds), not a time. */
const EARLIEST_SIGHTING_MS = 1_577_836_800_000;

function validateSeenAt(value: unknown, latestMs: number, field: string): number {
  timeMs(value, field);
  if ((value as number) < EARLIEST_SIGHTING_MS) throw MamoriError.invalidArgument(field, 'must be a time in milliseconds since the epoch, from 2020 on');
  if ((value as number) > latestMs) throw MamoriError.invalidArgument(field, 'is in the future');
  return value as number;
}

function validateList<T>(list: readonly T[] | null | undefined, field: string): readonly T[] {
  if (!list || list.length === 0) throw MamoriError.invalidArgument(field, 'must contain at least one sighting');
  if (list.length > LIMITS.maxSightingsPerEntry) {
    throw MamoriError.invalidArgument(field, `has ${list.length} sightings; the limit is ${LIMITS.maxSightingsPerEntry}`);
  }
  return list;
}

function validateOne(
  s: { selector?: Selector__Output | null; outcome?: unknown; seenAtMs?: unknown } | null | undefined,
  latestMs: number,
  at: string,
): { selector: ValidSelector; outcome: SightingOutcomeName; seenAtMs: number } {
  if (!s) throw MamoriError.invalidArgument(at, 'is required');
  const selector = validateSelector(s.selector, `${at}.selector`);
  const outcome = enumValue<SightingOutcomeName>(SightingOutcome, s.outcome, `${at}.outcome`);
  const seenAtMs = validateSeenAt(s.seenAtMs, latestMs, `${at}.seenAtMs`);
  return { selector, outcome, seenAtMs };
}

/**
 * A signed Sightings operation. `createdAtMs` is the entry's: a sighting cannot be seen after
 * the entry that reports it was made (plus clock skew), which every node decides alike.
 * Whether the origin may claim `byCardIssuer` depends on its roles: acceptance decides that.
 */
export function validateSightings(
  op: { sightings?: readonly ({ selector?: Selector__Output | null; outcome?: unknown; seenAtMs?: unknown; byCardIssuer?: unknown } | null)[] } | null | undefined,
  createdAtMs: number,
  field: string,
): ValidSighting[] {
  if (!op) throw MamoriError.invalidArgument(field, 'is required');
  const list = validateList(op.sightings, `${field}.sightings`);
  const latestMs = createdAtMs + LIMITS.maxSightingClockSkewMs;
  const valid = list.map((s, i): ValidSighting => {
    const at = `${field}.sightings[${i}]`;
    const base = validateOne(s, latestMs, at);
    const byCardIssuer = s?.byCardIssuer === true;
    if (byCardIssuer && !isPanSelectorType(base.selector.type)) {
      throw MamoriError.invalidArgument(`${at}.byCardIssuer`, 'only a PAN sighting can come from the card issuer');
    }
    return { ...base, byCardIssuer };
  });
  rejectRepeatedSelectors(valid.map((s) => s.selector), `${field}.sightings`);
  return valid;
}

/** A client's request: seenAtMs 0 means now; a BIN only with a PAN selector. */
export function validateSightingInputs(
  list: readonly ({ selector?: Selector__Output | null; outcome?: unknown; seenAtMs?: unknown; bin?: unknown } | null)[] | null | undefined,
  nowMs: number,
  field: string,
): ValidSightingInput[] {
  const latestMs = nowMs + LIMITS.maxSightingClockSkewMs;
  const valid = validateList(list, field).map((s, i): ValidSightingInput => {
    const at = `${field}[${i}]`;
    const base = validateOne(s && { ...s, seenAtMs: s.seenAtMs === 0 ? nowMs : s.seenAtMs }, latestMs, at);
    const bin = s?.bin ?? '';
    if (typeof bin !== 'string' || (bin !== '' && !BIN_PATTERN.test(bin))) {
      throw MamoriError.invalidArgument(`${at}.bin`, 'must be the first 6 to 8 digits of the card number');
    }
    if (bin !== '' && !isPanSelectorType(base.selector.type)) {
      throw MamoriError.invalidArgument(`${at}.bin`, 'only a PAN sighting carries a BIN');
    }
    return { ...base, bin };
  });
  rejectRepeatedSelectors(valid.map((s) => s.selector), field);
  return valid;
}

/** True when a card's BIN lies in one of the member's BIN ranges (each 6-8 digits, a prefix of the card number). */
export function binInRanges(bin: string, ranges: readonly string[]): boolean {
  return bin !== '' && ranges.some((range) => bin.startsWith(range));
}

/** What a member's node signs for its client's sightings: the BIN decides byCardIssuer and is dropped. */
export function sightingsForEntry(inputs: readonly ValidSightingInput[], ownBinRanges: readonly string[]): ValidSighting[] {
  return inputs.map((s) => ({
    selector: s.selector,
    outcome: s.outcome,
    seenAtMs: s.seenAtMs,
    byCardIssuer: isPanSelectorType(s.selector.type) && binInRanges(s.bin, ownBinRanges),
  }));
}
