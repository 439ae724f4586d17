// The corroboration score of a listed selector (docs/design.md#corroboration): how confident the consortium
// is that the listing is genuine, 0-100, from who lists it and what members reported after
// seeing the card (sightings). Log-odds, so each piece of evidence moves the score by a fixed
// factor on the odds: strong evidence still moves a middling score a lot, and no pile of
// weak evidence reaches 0 or 100.
//
//   x = logit(clamp(max listing confidence, 1, 99) / 100)
//     + 0.6 × (listing members − 1)                      independent listings corroborate
//     + 0.8 × members reporting a true positive           a member confirmed fraud on the card
//     − 0.8 × members reporting a false positive, other than the card's issuer
//     − 4.0 if the card's own issuer reported a false positive
//     + 0.1 × members reporting it merely seen            seen in traffic, outcome unknown
//   score = round(100 × sigmoid(x))
//
// Why these weights: a listing at the default confidence 80 scores 80; a second listing
// member (88) or one confirmed true positive (90) is worth about one step of the default
// policy. A false positive from a non-issuer cancels one confirmation: it may be a
// cardholder the reporter could not reach. The issuer sees the cardholder's account and its
// dispute, so its false positive is near-conclusive: −4 (odds ÷ 55, as much as five other
// members' false positives) takes a twice-listed, twice-confirmed card from 97 to 40 and a
// single listing from 80 to 7. "Seen" says only that the card is in use, so it counts little.
//
// Who counts: a member that lists the selector cannot corroborate its own listing — its true
// positives and "seen" are ignored, or it could raise its own score at will. Its false positive
// still counts: it speaks against its own listing, which no member gains from, and it is the
// first sign of a listing made in error (until the member retracts it). A member that reported
// both a true and a false positive counts once, for its latest word (by observation time, then
// by its feed's order): it may have learned of a dispute after confirming fraud, or the reverse.
import type { SightingOutcomeName } from '../ledger/sightings';
import { NO_SIGHTINGS, type SightingCounts } from '../../../proto/ts/sighting-counts';

export { NO_SIGHTINGS, type SightingCounts };

export const SCORE_WEIGHTS = Object.freeze({
  perExtraListingMember: 0.6,
  perTruePositive: 0.8,
  perFalsePositive: -0.8,
  issuerFalsePositive: -4,
  perSeen: 0.1,
  /** Confidence is clamped to 1..99 percent: 0 and 100 have no log-odds. */
  minConfidence: 1,
  maxConfidence: 99,
});

export interface CorroborationInput {
  /** Confidence (0-100) of each listing member's evidence. */
  confidences: readonly number[];
  listingMembers: number;
  sightings: SightingCounts;
}

const logit = (p: number): number => Math.log(p / (1 - p));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** 0-100; 0 for a selector nobody lists. */
export function corroborationScore(input: CorroborationInput): number {
  if (input.listingMembers <= 0 || input.confidences.length === 0) return 0;
  const w = SCORE_WEIGHTS;
  const confidence = Math.min(w.maxConfidence, Math.max(w.minConfidence, Math.max(...input.confidences)));
  const s = input.sightings;
  const othersFalsePositive = Math.max(0, s.falsePositive - (s.issuerFalsePositive ? 1 : 0));
  const x =
    logit(confidence / 100) +
    w.perExtraListingMember * (input.listingMembers - 1) +
    w.perTruePositive * s.truePositive +
    w.perFalsePositive * othersFalsePositive +
    (s.issuerFalsePositive ? w.issuerFalsePositive : 0) +
    w.perSeen * s.seen;
  return Math.round(100 * sigmoid(x));
}

export interface SightingRow {
  origin: string;
  outcome: SightingOutcomeName;
  byCardIssuer: boolean;
  seenAtMs: number;
  /** Orders two reports of one origin made at the same time. */
  entryId: number;
}

const isLater = (a: SightingRow, b: SightingRow): boolean => a.seenAtMs > b.seenAtMs || (a.seenAtMs === b.seenAtMs && a.entryId > b.entryId);

/**
 * Distinct reporting members per outcome from stored sightings (one row per origin and
 * outcome), leaving out the listing members' own true positives and "seen", and counting each
 * member once across true and false positive (its latest report).
 */
export function countSightings(rows: readonly SightingRow[], listingOrigins: ReadonlySet<string>): SightingCounts {
  const seen = new Set<string>();
  const verdicts = new Map<string, SightingRow>();
  for (const row of rows) {
    if (row.outcome === 'SIGHTING_OUTCOME_SEEN') {
      if (!listingOrigins.has(row.origin)) seen.add(row.origin);
      continue;
    }
    if (row.outcome !== 'SIGHTING_OUTCOME_TRUE_POSITIVE' && row.outcome !== 'SIGHTING_OUTCOME_FALSE_POSITIVE') continue;
    const known = verdicts.get(row.origin);
    if (!known || isLater(row, known)) verdicts.set(row.origin, row);
  }
  let truePositive = 0;
  let falsePositive = 0;
  let issuerFalsePositive = false;
  for (const row of verdicts.values()) {
    if (row.outcome === 'SIGHTING_OUTCOME_TRUE_POSITIVE') {
      if (!listingOrigins.has(row.origin)) truePositive++;
    } else {
      falsePositive++;
      if (row.byCardIssuer) issuerFalsePositive = true;
    }
  }
  return { seen: seen.size, truePositive, falsePositive, issuerFalsePositive };
}
