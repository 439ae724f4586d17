// Merchant screening and sightings: what a pipeline passes and gets back.
import type { Action } from './policy';
import type { CheckSource, Evidence } from './results';
import type { MerchantSelectorField } from '../../proto/ts/merchant';
import type { MerchantListingMatch } from './merchants';

/** What an acquirer knows about a merchant; each field present is normalized, hashed and checked. */
export type { MerchantFields } from '../../proto/ts/merchant';
export type MerchantField = MerchantSelectorField;

export interface MerchantScreenResult {
  listed: boolean;
  /** review when one acquirer lists the merchant, decline when two or more do. */
  action: Action;
  /** Distinct acquirers listing the merchant. */
  listingMembers: number;
  /** One match per listing acquirer: which fields matched, the reason codes. */
  matches: MerchantListingMatch[];
  evidence: Evidence[];
  /** Every field that matched some listing. */
  matched: MerchantField[];
  source: CheckSource;
  degraded: boolean;
}

/** Feedback on a listing: the card was seen, the listing proved right, or it proved wrong. */
export type SightingOutcome = 'seen' | 'true_positive' | 'false_positive';

export interface CardSighting {
  pan: string;
  outcome: SightingOutcome;
  /** When it was observed; default: now. */
  observedAtMs?: number;
}

export interface SightingReceipt {
  /** Sightings signed into this member's feed (one per card). */
  recorded: number;
  /** The entry of this member's feed that carries them. */
  seq: number;
}
