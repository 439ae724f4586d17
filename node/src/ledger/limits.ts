// Size limits every node enforces on every entry, its own and its peers'.
import { LOOKS_LIKE_CARD_NUMBER, looksLikeCardNumber } from '../../../proto/ts/normalize';

export { LOOKS_LIKE_CARD_NUMBER };

const DAY_MS = 24 * 60 * 60 * 1000;
export const LIMITS = Object.freeze({
  maxEntryBodyBytes: 4 * 1024 * 1024,
  maxIndicatorsPerEntry: 10_000,
  maxSelectorsPerIndicator: 8,
  maxSelectorsPerRetract: 10_000,
  maxSelectorsPerCheck: 10_000,
  maxConfidence: 100,
  maxEventIdLength: 64,
  maxCardTestingBucketMinutes: 1440,
  /** Authorization attempts one report may count in one bucket (at most a day): over 100 a second all day. */
  maxCardTestingAttempts: 10_000_000,
  /** How far after its publication (now at the API, the entry's createdAtMs in acceptance) a listing may start. */
  maxValidFromAheadMs: 5 * 60_000,
  /** How far after its publication a listing may end: ten years. */
  maxValidUntilAheadMs: 3_653 * DAY_MS,
  maxSightingsPerEntry: 10_000,
  /** How far after its entry's creation (the origin's clock) a sighting may say it was seen. */
  maxSightingClockSkewMs: 5 * 60_000,
  // Common point of purchase: a fraud report request, its sealed entries, the flags entry.
  maxFraudCardsPerReport: 10_000,
  maxMerchantsPerFraudCard: 64,
  maxVolumesPerReport: 100_000,
  maxFraudReportSealedBytes: 3 * 1024 * 1024,
  maxCommonPointFlagsPerEntry: 10_000,
  /** The highest hashing-key epoch a KeyEpochAck may name: a new epoch a day for over 2,700 years. */
  maxKeyEpoch: 1_000_000,
  /** Rows of one evaluation-counts entry (a bucket with more is published as several entries). */
  maxOprfCountsPerEntry: 1_000,
  /** The longest evaluation-count bucket: a day. */
  maxOprfCountBucketSeconds: 86_400,
  /** The largest band an evaluation-counts row may carry (2^40). */
  maxOprfCountBand: 2 ** 40,
});

export const EVENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const BIN_PATTERN = /^[0-9]{6,8}$/;
export const MEMBER_ID_PATTERN = /^[a-z0-9-]{3,32}$/;

/** Why a value is not a member id, or undefined when it is one. Never echoes the value. */
export function memberIdProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || !MEMBER_ID_PATTERN.test(value)) return 'must be a member id';
  if (looksLikeCardNumber(value)) return LOOKS_LIKE_CARD_NUMBER;
  return undefined;
}
