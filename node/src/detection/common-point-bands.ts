// The coarsening of published common-point aggregates. Flags are public to every member, and
// an issuer that is one of k reporters could otherwise subtract its own counts from a flag's
// and learn the other issuers' exactly. Published values are therefore bands:
// - fraud cards: rounded DOWN to 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, … (1-2-5 steps
//   from 10 on); below 3 the count is exact, which the default minCards of 3 keeps out of flags;
// - expected fraud cards: one significant digit (0.0834 → 0.08, 12.6 → 10);
// - p-value: the power of ten at or above it (3.2e-8 → 1e-7), an upper bound;
// - issuers: exact, as it is the k-threshold aggregate itself.
// A merchant is republished only when its issuers or its fraud-card band grows, so a single
// new report moves a published value only when it crosses a band.

const SMALL_BANDS = [1, 2, 3, 5] as const;
const DECADE_STEPS = [1, 2, 5] as const;

/** The largest band at or below a fraud-card count (0 below 1). */
export function fraudCardBand(count: number): number {
  if (!(count >= 1)) return 0;
  if (count < 10) return [...SMALL_BANDS].reverse().find((b) => b <= count) ?? 1;
  let decade = 10;
  while (decade * 10 <= count) decade *= 10;
  const step = [...DECADE_STEPS].reverse().find((s) => s * decade <= count) ?? 1;
  return step * decade;
}

/** One significant digit; non-finite or negative values are not expected and become 0. */
export function oneSignificantDigit(value: number): number {
  if (!Number.isFinite(value) || value <= 0) return 0;
  return Number(value.toPrecision(1));
}

/** The smallest power of ten at or above a p-value (0 stays 0, at most 1). */
export function pValueBound(pValue: number): number {
  if (!Number.isFinite(pValue) || pValue >= 1) return 1;
  if (pValue <= 0) return 0;
  let exponent = Math.ceil(Math.log10(pValue));
  // log10 of values near a power of ten can land one off after rounding: correct on the exact value.
  if (Number(`1e${exponent}`) < pValue) exponent += 1;
  if (Number(`1e${exponent - 1}`) >= pValue) exponent -= 1;
  return Number(`1e${exponent}`);
}
