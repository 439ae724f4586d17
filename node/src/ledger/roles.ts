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
