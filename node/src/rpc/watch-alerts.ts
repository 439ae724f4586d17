// The proto fields of watched-merchant alerts (detection/merchant-watch.ts), from a stored
// alert's payload: the aggregates of a common-point flag, or a listing's origin and reason.
import type { Alert } from '../../../proto/gen/mamori/v1/Alert';
import type { SelectorType } from '../../../proto/gen/mamori/v1/SelectorType';
import type { ReasonCode } from '../../../proto/gen/mamori/v1/ReasonCode';
import { COMMON_POINT_ALERT, MERCHANT_LISTING_ALERT } from '../detection/merchant-watch';
import type { StoredAlert } from '../store/alert-store';

interface StoredSelector {
  type: string;
  digest: string;
}

const toSelector = (s: StoredSelector) => ({ type: s.type as SelectorType, digest: Buffer.from(s.digest, 'base64') });

export function watchedMerchantAlertFields(a: StoredAlert): Pick<Alert, 'commonPoint' | 'merchantListing'> {
  const p = a.payload;
  if (a.kind === COMMON_POINT_ALERT) {
    return {
      commonPoint: {
        merchant: toSelector(p.merchant as StoredSelector),
        issuers: Number(p.issuers ?? 0),
        fraudCards: Number(p.fraudCards ?? 0),
        expectedFraudCards: Number(p.expectedFraudCards ?? 0),
        pValue: Number(p.pValue ?? 0),
      },
    };
  }
  if (a.kind === MERCHANT_LISTING_ALERT) {
    return {
      merchantListing: {
        origin: String(p.origin ?? ''),
        reason: String(p.reason ?? 'REASON_CODE_UNSPECIFIED') as ReasonCode,
        matched: (p.matched as string[]).map((t) => t as SelectorType),
        merchants: (p.merchants as StoredSelector[]).map(toSelector),
      },
    };
  }
  return {};
}
