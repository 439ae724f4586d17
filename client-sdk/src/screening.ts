// Merchant screening and sightings: their types are fixed now so that pipelines can be written
// against them; the node serves them with their own issues (until then the client methods
// throw FAILED_PRECONDITION).
import type { Action } from './policy';
import type { CheckSource, Evidence } from './results';

/** What an acquirer knows about a merchant it is onboarding; each field present is hashed and checked. */
export interface MerchantFields {
  /** The national corporate number (for example Japan's 13-digit 法人番号). */
  corporateNumber?: string;
  domain?: string;
  phone?: string;
  nameAddress?: { name: string; address: string };
  representative?: string;
  acquirerMid?: { acquirer: string; mid: string };
}

export type MerchantField = keyof MerchantFields;

export interface MerchantScreenResult {
  listed: boolean;
  action: Action;
  listingMembers: number;
  evidence: Evidence[];
  /** The fields whose selectors matched a listing. */
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
  /** Sightings recorded (one per listing member whose indicator matched). */
  recorded: number;
  seq: number;
}
