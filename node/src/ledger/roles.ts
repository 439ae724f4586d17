// Which member roles may write which operations (docs/design.md#roles).
export const ROLES = ['issuer', 'acquirer', 'psp'] as const;
export type Role = (typeof ROLES)[number];

export type OperationName =
  | 'publishIndicators'
  | 'retract'
  | 'sightings'
  | 'cardTestingReport'
  | 'fraudReport'
  | 'keyEpochAck'
  | 'commonPointFlags'
  | 'oprfEvaluationCounts';

export type IndicatorKindName = 'INDICATOR_KIND_COMPROMISED_CARD' | 'INDICATOR_KIND_FRAUDULENT_MERCHANT';

// Which selector types each kind takes (enforced in validate.ts): a compromised card a PAN
// selector, keyed (SELECTOR_TYPE_PAN) or oblivious (SELECTOR_TYPE_PAN_OBLIVIOUS, docs/oprf.md);
// a merchant its merchant selectors. The phase in the consortium file decides which PAN type a
// node accepts from its own clients (membership/pan-selector-phase.ts); entries from peers are
// accepted by form alone, so every node decides them alike at any time.
const KIND_ROLES: Readonly<Record<IndicatorKindName, readonly Role[]>> = {
  // Issuers, acquirers and PSPs all learn of leaked cards (breaches, phishing kits, testing).
  INDICATOR_KIND_COMPROMISED_CARD: ['issuer', 'acquirer', 'psp'],
  // Only an acquirer terminates a merchant relationship.
  INDICATOR_KIND_FRAUDULENT_MERCHANT: ['acquirer'],
};

const OPERATION_ROLES: Readonly<Record<OperationName, readonly Role[]>> = {
  publishIndicators: ROLES,
  retract: ROLES,
  sightings: ROLES,
  cardTestingReport: ['acquirer', 'psp'],
  fraudReport: ['issuer'],
  keyEpochAck: ROLES,
  // Any role by itself; acceptance also requires the origin to be the consortium's aggregator.
  commonPointFlags: ROLES,
  // Any role by itself; acceptance also requires the origin to be an evaluator of the oprf section.
  oprfEvaluationCounts: ROLES,
};

export function roleAllowsOperation(roles: readonly Role[], operation: OperationName): boolean {
  return roles.some((r) => OPERATION_ROLES[operation].includes(r));
}

export function roleAllowsKind(roles: readonly Role[], kind: IndicatorKindName): boolean {
  return roles.some((r) => KIND_ROLES[kind].includes(r));
}
