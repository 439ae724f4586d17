// The verdict policy: what an authorization should do given the consortium's evidence about
// the card. The SDK only recommends; the pipeline decides.
import type { DataElement__Output } from '../../proto/gen/mamori/v1/DataElement';
import type { Evidence__Output } from '../../proto/gen/mamori/v1/Evidence';

/** One member's listing of the card: reason, exposed data, confidence, validity. Never the card number. */
export type Evidence = Evidence__Output;

/**
 * approve: authorize as usual. step_up: challenge the cardholder (EMV 3-D Secure).
 * review: hold for a fraud analyst or a rules engine. decline: refuse the authorization.
 */
export type Action = 'approve' | 'step_up' | 'review' | 'decline';

export const ACTIONS: readonly Action[] = Object.freeze(['approve', 'step_up', 'review', 'decline']);

export interface PolicyContext {
  /** Distinct members that list the card. */
  listingMembers: number;
  nowMs: number;
  /** Whatever the caller passed with the check (amount, channel, MCC, …), untouched. */
  transaction: Readonly<Record<string, unknown>> | undefined;
  /** The corroboration score (0-100) of a listed card, for policies that weigh sightings. */
  score?: number;
}

export type VerdictPolicy = (evidence: readonly Evidence[], context: PolicyContext) => Action;

/** Data that lets a fraudster pass a card-not-present authorization or clone the card. */
const SENSITIVE: ReadonlySet<DataElement__Output> = new Set(['DATA_ELEMENT_CVV', 'DATA_ELEMENT_TRACK', 'DATA_ELEMENT_PIN']);

export const HIGH_CONFIDENCE = 80;

/**
 * The documented default, first matching row wins:
 *
 * | evidence                                                        | action  |
 * | --------------------------------------------------------------- | ------- |
 * | not listed                                                      | approve |
 * | listed by ≥ 2 members, and CVV, track or PIN exposed by any     | decline |
 * | listed by ≥ 2 members                                           | review  |
 * | listed once, confidence ≥ 80, CVV exposed                       | review  |
 * | listed once                                                     | step_up |
 *
 * Two independent members seeing the same card is corroboration; a single listing is a
 * reason to ask the cardholder (3-D Secure), not to refuse them.
 */
export const defaultPolicy: VerdictPolicy = (evidence, context) => {
  if (evidence.length === 0 && context.listingMembers === 0) return 'approve';
  const members = Math.max(context.listingMembers, new Set(evidence.map((e) => e.origin)).size);
  if (members === 0) return 'approve';
  if (members >= 2) return evidence.some((e) => e.exposed.some((x) => SENSITIVE.has(x))) ? 'decline' : 'review';
  if (evidence.some((e) => e.confidence >= HIGH_CONFIDENCE && e.exposed.includes('DATA_ELEMENT_CVV'))) return 'review';
  return 'step_up';
};
