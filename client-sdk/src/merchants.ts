// Merchant blacklist: an acquirer lists a merchant it terminated (each identity field hashed
// as its own selector type), and any member screens a merchant by whatever fields it has.
import type { ReasonCode } from '../../proto/gen/mamori/v1/ReasonCode';
import type { PublishIndicators } from '../../proto/gen/mamori/v1/PublishIndicators';
import type { CheckResult__Output } from '../../proto/gen/mamori/v1/CheckResult';
import type { MerchantSelector, MerchantSelectorField } from '../../proto/ts/merchant';
import { DAY_MS, DEFAULT_CONFIDENCE } from './details';
import { MamoriClientError } from './errors';
import type { Evidence } from './results';

export const MERCHANT_REASONS = {
  'account-data-compromise': 'REASON_CODE_ACCOUNT_DATA_COMPROMISE',
  'common-point-of-purchase': 'REASON_CODE_COMMON_POINT_OF_PURCHASE',
  laundering: 'REASON_CODE_LAUNDERING',
  'excessive-chargebacks': 'REASON_CODE_EXCESSIVE_CHARGEBACKS',
  'excessive-fraud': 'REASON_CODE_EXCESSIVE_FRAUD',
  collusion: 'REASON_CODE_COLLUSION',
  'identity-theft': 'REASON_CODE_IDENTITY_THEFT',
  'illegal-transactions': 'REASON_CODE_ILLEGAL_TRANSACTIONS',
  'fraud-conviction': 'REASON_CODE_FRAUD_CONVICTION',
  'pci-noncompliance': 'REASON_CODE_PCI_NONCOMPLIANCE',
  bankruptcy: 'REASON_CODE_BANKRUPTCY',
} as const satisfies Record<string, ReasonCode>;

export type MerchantReasonName = keyof typeof MERCHANT_REASONS;

export interface MerchantListingDetails {
  reason: MerchantReasonName;
  confidence?: number;
  /** Default five years, as terminated-merchant lists keep a listing. */
  validDays?: number;
  eventId?: string;
}

export const DEFAULT_MERCHANT_VALID_DAYS = 5 * 365;

/** One listing member's match: which of the submitted fields it listed, and why. */
export interface MerchantListingMatch {
  origin: string;
  fields: MerchantSelectorField[];
  reasons: string[];
  firstSeenMs: number;
  validUntilMs: number;
}

export function merchantPublication(selectors: readonly MerchantSelector[], details: MerchantListingDetails, nowMs = Date.now()): PublishIndicators {
  return merchantsPublication([selectors], details, nowMs);
}

/** Several merchants sharing reason and validity: one indicator (with its selectors) per merchant, one signed entry. */
export function merchantsPublication(merchants: readonly (readonly MerchantSelector[])[], details: MerchantListingDetails, nowMs = Date.now()): PublishIndicators {
  const reason = MERCHANT_REASONS[details.reason];
  if (!reason) {
    throw new MamoriClientError('INVALID_ARGUMENT', `reason: unknown "${String(details.reason)}"; expected one of ${Object.keys(MERCHANT_REASONS).join(', ')}`);
  }
  const validDays = details.validDays ?? DEFAULT_MERCHANT_VALID_DAYS;
  return {
    kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT',
    reason,
    exposed: [],
    confidence: details.confidence ?? DEFAULT_CONFIDENCE,
    validFromMs: nowMs,
    validUntilMs: nowMs + Math.round(validDays * DAY_MS),
    eventId: details.eventId ?? '',
    indicators: merchants.map((selectors) => ({ selectors: selectors.map((s) => ({ type: s.type, digest: s.digest })) })),
  };
}

/** Groups per-selector answers into one match per listing member. */
export function merchantMatches(selectors: readonly MerchantSelector[], results: readonly CheckResult__Output[]): { matches: MerchantListingMatch[]; evidence: Evidence[] } {
  const byOrigin = new Map<string, MerchantListingMatch & { evidence: Evidence }>();
  results.forEach((result, i) => {
    const field = selectors[i]?.field;
    if (!field) return;
    for (const e of result.evidence) {
      if (e.kind !== 'INDICATOR_KIND_FRAUDULENT_MERCHANT') continue;
      const m = byOrigin.get(e.origin) ?? { origin: e.origin, fields: [], reasons: [], firstSeenMs: e.firstSeenMs, validUntilMs: e.validUntilMs, evidence: e };
      if (!m.fields.includes(field)) m.fields.push(field);
      if (!m.reasons.includes(e.reason)) m.reasons.push(e.reason);
      m.firstSeenMs = Math.min(m.firstSeenMs, e.firstSeenMs);
      m.validUntilMs = Math.max(m.validUntilMs, e.validUntilMs);
      byOrigin.set(e.origin, m);
    }
  });
  const all = [...byOrigin.values()].sort((a, b) => a.firstSeenMs - b.firstSeenMs);
  return { matches: all.map(({ evidence: _e, ...m }) => m), evidence: all.map((m) => m.evidence) };
}
