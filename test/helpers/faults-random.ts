// Seeded randomness for the fault suite: every random kill point comes from one printed
// seed, so a failing run replays with MAMORI_FAULT_SEED=<seed>.

export interface FaultRandom {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  between(min: number, max: number): number;
}

/** mulberry32: tiny, fast, and the same sequence on every platform for a given seed. */
export function seededRandom(seed: number): FaultRandom {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { seed, next, between: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

/** The run's randomness: MAMORI_FAULT_SEED if set, else a fresh seed; printed either way. */
export function faultRandom(suite: string): FaultRandom {
  const given = process.env.MAMORI_FAULT_SEED;
  const seed = given !== undefined && given !== '' ? Number(given) >>> 0 : (Date.now() ^ (process.pid << 8)) >>> 0;
  console.log(`    [${suite}] seed ${seed} (replay: MAMORI_FAULT_SEED=${seed})`);
  return seededRandom(seed);
}

/** Iterations of a randomized fault loop: MAMORI_FAULT_ITERATIONS overrides the default. */
export function faultIterations(defaultCount: number): number {
  const given = Number(process.env.MAMORI_FAULT_ITERATIONS);
  return Number.isInteger(given) && given > 0 ? given : defaultCount;
}
