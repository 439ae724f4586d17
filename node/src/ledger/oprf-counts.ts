// Threshold-PRF evaluation counts on the ledger (docs/oprf.md, "Evaluation counts on the
// ledger"): the coarsening an evaluator applies before it signs, and the well-formedness every
// node checks when it accepts an evaluator's entry. Errors name the field, never a value.
import type { OprfEvaluationCounts__Output } from '../../../proto/gen/mamori/v1/OprfEvaluationCounts';
import { MamoriError } from './errors';
import { LIMITS, memberIdProblem } from './limits';
import { integerInRange, timeMs } from './validate';

/** The public input of the threshold PRF: 6 or 8 digits (the oprf section's binDigits). */
export const OPRF_BIN_PATTERN = /^(?:[0-9]{6}|[0-9]{8})$/;

export interface OprfCountRow {
  /** The requesting member. */
  member: string;
  bin: string;
  /** A power of two ≥ the floor: the count lies in [band, 2·band). */
  band: number;
}

export interface ValidOprfEvaluationCounts {
  bucketStartMs: number;
  bucketSeconds: number;
  floor: number;
  counts: OprfCountRow[];
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1 && 2 ** Math.floor(Math.log2(n)) === n;
}

/**
 * The band a count is published as: the count rounded down to a power of two, or undefined
 * when the count is below the floor (left out of the entry).
 */
export function countBand(count: number, floor: number): number | undefined {
  if (!Number.isSafeInteger(count) || count < Math.max(1, floor)) return undefined;
  let band = 1;
  while (band * 2 <= count) band *= 2;
  return Math.min(band, LIMITS.maxOprfCountBand);
}

/**
 * Coarsens one bucket's counts into the rows of its entries: only (member, BIN) whose count
 * reached the floor, as bands, ordered by member then BIN, split into chunks of at most
 * `perEntry` rows. Nothing reached the floor: no chunk (nothing is published).
 */
export function coarsenCounts(
  counts: readonly { member: string; bin: string; count: number }[],
  floor: number,
  perEntry: number = LIMITS.maxOprfCountsPerEntry,
): OprfCountRow[][] {
  const rows: OprfCountRow[] = [];
  for (const c of counts) {
    const band = countBand(c.count, floor);
    if (band !== undefined) rows.push({ member: c.member, bin: c.bin, band });
  }
  rows.sort((a, b) => (a.member === b.member ? (a.bin < b.bin ? -1 : a.bin > b.bin ? 1 : 0) : a.member < b.member ? -1 : 1));
  const chunks: OprfCountRow[][] = [];
  for (let i = 0; i < rows.length; i += perEntry) chunks.push(rows.slice(i, i + perEntry));
  return chunks;
}

/** An evaluation-counts entry as any node checks it: an aligned bucket, a power-of-two floor, banded rows. */
export function validateOprfEvaluationCounts(c: OprfEvaluationCounts__Output | null | undefined, field: string): ValidOprfEvaluationCounts {
  if (!c) throw MamoriError.invalidArgument(field, 'is required');
  const bucketSeconds = integerInRange(c.bucketSeconds, `${field}.bucketSeconds`, 1, LIMITS.maxOprfCountBucketSeconds);
  const bucketStartMs = timeMs(c.bucketStartMs, `${field}.bucketStartMs`, 1);
  if (bucketStartMs % (bucketSeconds * 1000) !== 0) {
    throw MamoriError.invalidArgument(`${field}.bucketStartMs`, 'must be a multiple of bucketSeconds (in milliseconds)');
  }
  const floor = integerInRange(c.floor, `${field}.floor`, 1, LIMITS.maxOprfCountBand);
  if (!isPowerOfTwo(floor)) throw MamoriError.invalidArgument(`${field}.floor`, 'must be a power of two');
  const list = c.counts ?? [];
  if (list.length === 0) throw MamoriError.invalidArgument(`${field}.counts`, 'must contain at least one count (nothing is published when nothing reaches the floor)');
  if (list.length > LIMITS.maxOprfCountsPerEntry) {
    throw MamoriError.invalidArgument(`${field}.counts`, `has ${list.length} counts; the limit is ${LIMITS.maxOprfCountsPerEntry}`);
  }
  const seen = new Set<string>();
  const counts = list.map((row, i) => {
    const at = `${field}.counts[${i}]`;
    if (!row) throw MamoriError.invalidArgument(at, 'is required');
    const problem = memberIdProblem(row.member);
    if (problem) throw MamoriError.invalidArgument(`${at}.member`, problem);
    if (typeof row.bin !== 'string' || !OPRF_BIN_PATTERN.test(row.bin)) throw MamoriError.invalidArgument(`${at}.bin`, 'must be a BIN of 6 or 8 digits');
    const band = integerInRange(row.band, `${at}.band`, floor, LIMITS.maxOprfCountBand, 'a power of two');
    if (!isPowerOfTwo(band)) throw MamoriError.invalidArgument(`${at}.band`, 'must be a power of two');
    const key = `${row.member}\0${row.bin}`;
    if (seen.has(key)) throw MamoriError.invalidArgument(`${at}`, 'repeats the member and BIN of an earlier count');
    seen.add(key);
    return { member: row.member, bin: row.bin, band };
  });
  return { bucketStartMs, bucketSeconds, floor, counts };
}
