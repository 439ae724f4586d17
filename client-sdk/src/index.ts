// mamori/client: what an authorization pipeline or a member's tooling imports.
export { MamoriClient, type CheckOptions, type ClientStatus } from './client';
export { DEFAULTS, MAX_BATCH, parseOptions, type BatchOptions, type CheckMode, type ClientOptions, type FailMode, type ReconnectOptions } from './options';
export { ACTIONS, HIGH_CONFIDENCE, defaultPolicy, type Action, type PolicyContext, type VerdictPolicy } from './policy';
export { type CardCheckResult, type CheckSource, type Evidence, type SightingCounts } from './results';
export { type ClientStats, type MirrorStatus, type SdkStatus } from './stats';
export { type BatcherStats } from './batcher';
export { type HashingKey } from './keys';
export { type CardSighting, type MerchantField, type MerchantFields, type MerchantScreenResult, type SightingOutcome, type SightingReceipt } from './screening';
export { MamoriClientError, type ClientErrorCode } from './errors';
export { MERCHANT_REASONS, DEFAULT_MERCHANT_VALID_DAYS, type MerchantListingDetails, type MerchantListingMatch, type MerchantReasonName } from './merchants';
export { readClientConfig, clientConfigSchema, type ClientConfig } from './config';
export { cardPublication } from './publication';
export * from './details';
export { normalizePan, type PanResult } from '../../proto/ts/normalize';
export { isPublicTestPan } from '../../proto/ts/test-cards';
export { DEFAULT_BUCKET_MINUTES, type AlertsOptions, type CardTestingReportInput, type MamoriAlert, type MamoriCardListingAlert } from './alerts';
export { SIGHTING_OUTCOMES } from './sightings';
export { type FraudReportInput } from './common-point';
