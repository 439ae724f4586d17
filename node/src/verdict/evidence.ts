// From stored listings to the verdict a check returns: active listings only, one piece of
// evidence per listing member (its latest listing, first and last seen across all of them).
import type { Evidence__Output } from '../../../proto/gen/mamori/v1/Evidence';
import type { StoredListing } from '../store/ledger-store';
import { corroborationScore, countSightings, type SightingCounts, type SightingRow } from './corroboration';

/** Evidence as the API returns it: one per listing member. */
export type Evidence = Evidence__Output;

export interface CheckVerdict {
  listed: boolean;
  evidence: Evidence[];
  listingMembers: number;
  /** Listed only: the corroboration score (verdict/corroboration.ts) and its sightings. */
  score: number;
  sightings: SightingCounts | null;
}

export const NOT_LISTED: CheckVerdict = Object.freeze({ listed: false, evidence: [], listingMembers: 0, score: 0, sightings: null }) as CheckVerdict;

/** Retracted and expired listings never produce a hit. */
export function isActive(listing: StoredListing, now: number): boolean {
  return !listing.retracted && listing.validFromMs <= now && listing.validUntilMs > now;
}

export function verdictFromListings(listings: readonly StoredListing[], now: number): CheckVerdict {
  const byOrigin = new Map<string, Evidence>();
  for (const listing of listings) {
    if (!isActive(listing, now)) continue;
    const known = byOrigin.get(listing.origin);
    if (!known) {
      byOrigin.set(listing.origin, toEvidence(listing));
      continue;
    }
    const latest = listing.createdAtMs >= known.lastSeenMs ? toEvidence(listing) : known;
    byOrigin.set(listing.origin, {
      ...latest,
      firstSeenMs: Math.min(known.firstSeenMs, listing.createdAtMs),
      lastSeenMs: Math.max(known.lastSeenMs, listing.createdAtMs),
      validUntilMs: Math.max(known.validUntilMs, listing.validUntilMs),
    });
  }
  if (byOrigin.size === 0) return NOT_LISTED;
  const evidence = [...byOrigin.values()].sort((a, b) => a.firstSeenMs - b.firstSeenMs);
  return { listed: true, evidence, listingMembers: evidence.length, score: 0, sightings: null };
}

/**
 * A listed verdict with its sightings counted and scored; read only for hits, so misses stay on
 * the fast path. The listing members' own confirmations are not counted (countSightings).
 */
export function withCorroboration(verdict: CheckVerdict, sightings: readonly SightingRow[]): CheckVerdict {
  if (!verdict.listed) return verdict;
  const counts = countSightings(sightings, new Set(verdict.evidence.map((e) => e.origin)));
  const score = corroborationScore({ confidences: verdict.evidence.map((e) => e.confidence), listingMembers: verdict.listingMembers, sightings: counts });
  return { ...verdict, score, sightings: counts };
}

function toEvidence(l: StoredListing): Evidence {
  return {
    kind: l.kind as Evidence['kind'],
    reason: l.reason as Evidence['reason'],
    exposed: l.exposed as Evidence['exposed'],
    confidence: l.confidence,
    origin: l.origin,
    firstSeenMs: l.createdAtMs,
    lastSeenMs: l.createdAtMs,
    validUntilMs: l.validUntilMs,
    matched: l.selectorType as Evidence['matched'],
    eventId: l.eventId,
  };
}
