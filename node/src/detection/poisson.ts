// The Poisson upper tail P(X >= n | mean), for "more fraud cards than a merchant's volume
// explains". Computed in log space, so means in the thousands and tails of 1e-300 neither
// underflow to a wrong 0 nor lose the small values a threshold of 1e-6 compares against.

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7): about 15 significant digits. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0] as number;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += (LANCZOS[i] as number) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

const MAX_TERMS = 100_000;

export function poissonUpperTail(n: number, mean: number): number {
  if (n <= 0) return 1;
  if (!(mean > 0)) return 0;
  const logTerm = (i: number) => -mean + i * Math.log(mean) - logGamma(i + 1);
  if (n > mean) {
    // Terms from n upward shrink by mean / (i + 1) < 1.
    let ratioSum = 1;
    let ratio = 1;
    for (let i = n; i < n + MAX_TERMS; i++) {
      ratio *= mean / (i + 1);
      ratioSum += ratio;
      if (ratio < ratioSum * 1e-17) break;
    }
    return Math.min(1, Math.exp(logTerm(n) + Math.log(ratioSum)));
  }
  // n <= mean: one minus the lower tail, summed from n - 1 downward (terms shrink by i / mean).
  let ratioSum = 1;
  let ratio = 1;
  for (let i = n - 1; i > 0 && i > n - 1 - MAX_TERMS; i--) {
    ratio *= i / mean;
    ratioSum += ratio;
    if (ratio < ratioSum * 1e-17) break;
  }
  const lower = Math.exp(logTerm(n - 1) + Math.log(ratioSum));
  return Math.max(0, Math.min(1, 1 - lower));
}
