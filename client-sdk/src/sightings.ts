// Card sightings as the node's ReportSightings takes them: each PAN hashed in this process
// under one key; its first 8 digits (the BIN) go to the member's own node only, which uses
// them to tell whether this member issued the card and never passes them on.
import { panSelector } from '../../proto/ts/trust/domains';
import type { ReportSightingsRequest } from '../../proto/gen/mamori/v1/ReportSightingsRequest';
import type { SightingOutcome as SightingOutcomeEnum } from '../../proto/gen/mamori/v1/SightingOutcome';
import type { CheckResult__Output } from '../../proto/gen/mamori/v1/CheckResult';
import { MamoriClientError } from './errors';
import type { HashingKey } from './keys';
import { NO_SIGHTINGS, type SightingCounts } from './results';
import type { CardSighting, SightingOutcome } from './screening';

export const SIGHTING_OUTCOMES = {
  seen: 'SIGHTING_OUTCOME_SEEN',
  true_positive: 'SIGHTING_OUTCOME_TRUE_POSITIVE',
  false_positive: 'SIGHTING_OUTCOME_FALSE_POSITIVE',
} as const satisfies Record<SightingOutcome, SightingOutcomeEnum>;

/** Digits of the BIN sent to the own node: 8 covers BIN ranges of 6 to 8 digits. */
const BIN_DIGITS = 8;

/** A sighting checked before any I/O: its outcome as the protocol names it. */
export interface PreparedSighting {
  outcome: SightingOutcomeEnum;
  seenAtMs: number;
}

/** Refuses an unknown outcome or a bad time, naming the sighting's index, before anything is sent. */
export function prepareSightings(sightings: readonly CardSighting[]): PreparedSighting[] {
  return sightings.map((s, i) => {
    const outcome = Object.hasOwn(SIGHTING_OUTCOMES, s.outcome) ? SIGHTING_OUTCOMES[s.outcome] : undefined;
    if (!outcome) {
      throw new MamoriClientError('INVALID_ARGUMENT', `sightings[${i}].outcome: expected one of ${Object.keys(SIGHTING_OUTCOMES).join(', ')}`);
    }
    const seenAtMs = s.observedAtMs ?? 0;
    if (!Number.isSafeInteger(seenAtMs) || seenAtMs < 0) {
      throw new MamoriClientError('INVALID_ARGUMENT', `sightings[${i}].observedAtMs: expected a time in milliseconds since the epoch`);
    }
    return { outcome, seenAtMs };
  });
}

/**
 * The request: each normalized card hashed under `key`, or, given `oblivious` (one selector per
 * card, docs/oprf.md), under no epoch (key_epoch 0); with its BIN for the own node (0 seenAtMs:
 * the node's now).
 */
export function sightingsRequest(prepared: readonly PreparedSighting[], digits: readonly string[], key: HashingKey | undefined, oblivious?: readonly Buffer[]): ReportSightingsRequest {
  if (!oblivious && !key) throw new MamoriClientError('FAILED_PRECONDITION', 'no active hashing key');
  return {
    keyEpoch: oblivious ? 0 : (key as HashingKey).epoch,
    sightings: prepared.map((s, i) => {
      const pan = digits[i] as string;
      const selector = oblivious
        ? { type: 'SELECTOR_TYPE_PAN_OBLIVIOUS' as const, digest: oblivious[i] as Buffer }
        : { type: 'SELECTOR_TYPE_PAN' as const, digest: panSelector((key as HashingKey).key, pan) };
      return { selector, outcome: s.outcome, seenAtMs: s.seenAtMs, bin: pan.slice(0, BIN_DIGITS) };
    }),
  };
}

/**
 * Score and sightings of a card from the node's answers (one per key epoch): the answer of
 * the listed selector with the most listing members (during a key rotation a card may be
 * listed under both epochs; the listing most members share speaks for it).
 */
export function mergeCorroboration(results: readonly CheckResult__Output[]): { score: number; sightings: SightingCounts } {
  let best: CheckResult__Output | undefined;
  for (const r of results) if (r.listed && (!best || r.listingMembers > best.listingMembers)) best = r;
  if (!best) return { score: 0, sightings: NO_SIGHTINGS };
  const s = best.sightings;
  return {
    score: best.score,
    sightings: s ? { seen: s.seen, truePositive: s.truePositive, falsePositive: s.falsePositive, issuerFalsePositive: s.issuerFalsePositive } : NO_SIGHTINGS,
  };
}
