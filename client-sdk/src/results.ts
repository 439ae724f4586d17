// What a check returns, and how it is put together from the node's per-selector answers.
import type { CheckResult__Output } from '../../proto/gen/mamori/v1/CheckResult';
import type { FailMode } from './options';
import type { Action, Evidence } from './policy';
import { NO_SIGHTINGS, type SightingCounts } from '../../proto/ts/sighting-counts';

export type { Evidence } from './policy';

/**
 * mirror: answered in this process by the filter mirror (certainly not listed), no I/O.
 * node: answered by the member's node. fallback: the node could not answer in time; the fail mode answered.
 */
export type CheckSource = 'mirror' | 'node' | 'fallback';

export interface CardCheckResult {
  listed: boolean;
  action: Action;
  listingMembers: number;
  evidence: Evidence[];
  source: CheckSource;
  /** True when the answer is the fail mode's, not knowledge about the card. */
  degraded: boolean;
  /** Only on degraded answers: why the node did not answer. */
  degradedReason?: 'UNAVAILABLE' | 'DEADLINE_EXCEEDED';
  /** Listed cards: 0-100 confidence that the listing is genuine (docs/design.md#corroboration); 0 otherwise. */
  score: number;
  /** Listed cards: distinct members that reported the card seen, a true or a false positive. */
  sightings: SightingCounts;
}

export { NO_SIGHTINGS, type SightingCounts };

/** A card hashed under several key epochs gives one node answer per epoch: one listing per member. */
export function mergeEvidence(results: readonly CheckResult__Output[]): Evidence[] {
  if (results.length === 1) return (results[0] as CheckResult__Output).evidence;
  const byOrigin = new Map<string, Evidence>();
  for (const r of results) for (const e of r.evidence) if (!byOrigin.has(e.origin)) byOrigin.set(e.origin, e);
  return [...byOrigin.values()];
}

/** The answer when the node cannot give one: fail-open approves, fail-closed holds for review. */
export function fallbackResult(failMode: FailMode, reason: 'UNAVAILABLE' | 'DEADLINE_EXCEEDED'): CardCheckResult {
  return {
    listed: false,
    action: failMode === 'open' ? 'approve' : 'review',
    listingMembers: 0,
    evidence: [],
    source: 'fallback',
    degraded: true,
    degradedReason: reason,
    score: 0,
    sightings: NO_SIGHTINGS,
  };
}
