// Friendly names for the enum values a person types on a command line or in code.
import type { ReasonCode } from '../../proto/gen/mamori/v1/ReasonCode';
import type { DataElement } from '../../proto/gen/mamori/v1/DataElement';
import type { RetractReason } from '../../proto/gen/mamori/v1/RetractReason';

export const CARD_REASONS = {
  'merchant-breach': 'REASON_CODE_MERCHANT_BREACH',
  phishing: 'REASON_CODE_PHISHING',
  skimming: 'REASON_CODE_SKIMMING',
  malware: 'REASON_CODE_MALWARE',
  'card-testing': 'REASON_CODE_CARD_TESTING',
  'confirmed-fraud': 'REASON_CODE_CONFIRMED_FRAUD',
} as const satisfies Record<string, ReasonCode>;

export const EXPOSURES = {
  pan: 'DATA_ELEMENT_PAN',
  expiry: 'DATA_ELEMENT_EXPIRY',
  cvv: 'DATA_ELEMENT_CVV',
  track: 'DATA_ELEMENT_TRACK',
  pin: 'DATA_ELEMENT_PIN',
  '3ds': 'DATA_ELEMENT_THREE_DS_CREDENTIALS',
  name: 'DATA_ELEMENT_CARDHOLDER_NAME',
} as const satisfies Record<string, DataElement>;

export const RETRACT_REASONS = {
  reissued: 'RETRACT_REASON_REISSUED',
  'false-positive': 'RETRACT_REASON_FALSE_POSITIVE',
  expired: 'RETRACT_REASON_EXPIRED',
} as const satisfies Record<string, RetractReason>;

export type CardReasonName = keyof typeof CARD_REASONS;
export type ExposureName = keyof typeof EXPOSURES;
export type RetractReasonName = keyof typeof RETRACT_REASONS;

/** What a publisher says about a batch of compromised cards. */
export interface CardListingDetails {
  reason: CardReasonName;
  exposed?: ExposureName[];
  confidence?: number;
  validDays?: number;
  eventId?: string;
}

export const DEFAULT_VALID_DAYS = 365;
export const DEFAULT_CONFIDENCE = 80;
export const DAY_MS = 24 * 60 * 60 * 1000;
